/**
 * A client of text-embeddings-inference's HTTP API as TEI users call it (LlamaIndex's
 * TextEmbeddingsInference posts to `/embed`; huggingface_hub's InferenceClient.feature_extraction
 * with the server as `base_url` posts to `/`, which TEI answers as `/embed` for an embedding model),
 * written from TEI's published API description: `POST /embed`, `GET /info`, `GET /health`; errors
 * are `{"error", "error_type"}`.
 */

/** TEI's EmbedRequest. */
export interface TeiHttpEmbedRequest {
  inputs: string | string[];
  normalize?: boolean;
  truncate?: boolean;
  truncation_direction?: "Left" | "Right";
  prompt_name?: string;
  dimensions?: number;
}

/** A non-2xx answer: its status, TEI's error body and the headers. */
export class TeiHttpError extends Error {
  readonly status: number;
  readonly body: { error: string; error_type: string };

  constructor(status: number, body: { error: string; error_type: string }) {
    super(`${status} ${body.error_type}: ${body.error}`);
    this.status = status;
    this.body = body;
  }
}

/** A TEI HTTP endpoint. */
export class TeiHttpClient {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl;
  }

  /** POST /embed (or `path`): the vectors, and TEI's response headers. */
  async embed(
    request: TeiHttpEmbedRequest,
    path: "/embed" | "/" = "/embed",
  ): Promise<{ vectors: number[][]; headers: Headers }> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    if (!response.ok)
      throw new TeiHttpError(response.status, (await response.json()) as TeiHttpError["body"]);
    return { vectors: (await response.json()) as number[][], headers: response.headers };
  }

  /** GET /info. */
  async info(): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.baseUrl}/info`);
    if (!response.ok)
      throw new TeiHttpError(response.status, (await response.json()) as TeiHttpError["body"]);
    return (await response.json()) as Record<string, unknown>;
  }

  /** GET /health: true on 200. */
  async healthy(): Promise<boolean> {
    const response = await fetch(`${this.baseUrl}/health`);
    await response.arrayBuffer();
    return response.status === 200;
  }
}
