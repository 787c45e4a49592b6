/**
 * An OpenAI-shaped embeddings client, written from OpenAI's API reference the way the official SDKs
 * behave: `POST /v1/embeddings` with `model` and `input` (string or list), `encoding_format` float or
 * base64 (the SDKs ask for base64 and decode little-endian float32), `GET /v1/models`; a non-2xx
 * answer is an error carrying `{"error": {"message", "type", "param", "code"}}`.
 */

/** OpenAI's error body. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** A non-2xx answer, as the SDKs raise it (status, then the error object). */
export class OpenAiApiError extends Error {
  readonly status: number;
  readonly body: OpenAiErrorBody;

  constructor(status: number, body: OpenAiErrorBody) {
    super(`${status} ${body.error.code}: ${body.error.message}`);
    this.status = status;
    this.body = body;
  }
}

/** The embeddings response. */
export interface CreateEmbeddingResponse {
  object: "list";
  model: string;
  data: Array<{ object: "embedding"; index: number; embedding: number[] }>;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** An OpenAI-compatible endpoint (`baseURL` ends in /v1, as the SDKs take it). */
export class OpenAiClient {
  readonly baseURL: string;

  constructor(baseURL: string) {
    this.baseURL = baseURL;
  }

  /** embeddings.create: decodes base64 vectors as the SDKs do. */
  async createEmbeddings(request: {
    model: string;
    input: string | string[];
    encoding_format?: "float" | "base64";
    dimensions?: number;
  }): Promise<CreateEmbeddingResponse> {
    const encoding = request.encoding_format ?? "base64";
    const body = (await this.#request("POST", "/embeddings", { ...request, encoding_format: encoding })) as {
      data: Array<{ object: "embedding"; index: number; embedding: number[] | string }>;
    } & Omit<CreateEmbeddingResponse, "data">;
    return {
      ...body,
      data: body.data.map((item) => ({
        ...item,
        embedding:
          typeof item.embedding === "string"
            ? Array.from(new Float32Array(new Uint8Array(Buffer.from(item.embedding, "base64")).buffer))
            : item.embedding,
      })),
    };
  }

  /** models.list. */
  async listModels(): Promise<{
    object: "list";
    data: Array<{ id: string; object: "model"; created: number; owned_by: string }>;
  }> {
    return (await this.#request("GET", "/models")) as never;
  }

  /**
   * models.retrieve. The SDKs percent-encode the id as a path segment, leaving RFC 3986's segment
   * characters (`:`, `@`, `+`, ...) as they are: `name:version` travels with a raw `:`.
   */
  async retrieveModel(
    id: string,
  ): Promise<{ id: string; object: "model"; created: number; owned_by: string }> {
    const segment = id.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]+/g, encodeURIComponent);
    return (await this.#request("GET", `/models/${segment}`)) as never;
  }

  /** Any request; resolves with the JSON body, throws OpenAiApiError for a non-2xx answer. */
  async raw(method: string, path: string, body?: unknown): Promise<unknown> {
    return this.#request(method, path, body);
  }

  async #request(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.baseURL}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await response.json()) as unknown;
    if (!response.ok) throw new OpenAiApiError(response.status, json as OpenAiErrorBody);
    return json;
  }
}
