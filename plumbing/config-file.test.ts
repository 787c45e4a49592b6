import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, loadConfigFile, parseConfig, readConfigDocument } from "./config-file.ts";

const schema = z.strictObject({
  name: z.string().min(1),
  limits: z.strictObject({ max: z.int().min(1) }),
});

async function file(text: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), "jude-config-")), "config.yaml");
  await writeFile(path, text);
  return path;
}

describe("config files", () => {
  it("reads YAML and JSON alike", async () => {
    expect(loadConfigFile(schema, await file("name: a\nlimits: {max: 2}\n"), "test config")).toEqual({
      name: "a",
      limits: { max: 2 },
    });
    expect(loadConfigFile(schema, await file('{"name":"b","limits":{"max":1}}'), "test config").name).toBe(
      "b",
    );
  });

  it("lists every problem with its field path", () => {
    const attempt = () => parseConfig(schema, { name: "", limits: { max: 0 }, extra: 1 }, "test config");
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(
      /^invalid test config:\n {2}name: .*\n {2}limits\.max: .*\n {2}\(root\): .*extra/,
    );
  });

  it("names the file when it cannot be read or is not a mapping", async () => {
    expect(() => readConfigDocument("/nonexistent/jude.yaml", "test config")).toThrow(
      /cannot read test config \/nonexistent\/jude\.yaml: .*ENOENT/,
    );
    const list = await file("- a\n- b\n");
    expect(() => readConfigDocument(list, "test config")).toThrow(/must be a mapping/);
    expect(readConfigDocument(await file(""), "test config")).toEqual({});
  });
});
