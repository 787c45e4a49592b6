import { describe, expect, it } from "vitest";
import { imagesFor, withPullPolicy } from "./image.ts";

const cpuDigest = `sha256:${"a".repeat(64)}`;
const cudaDigest = `sha256:${"c".repeat(64)}`;
// An image reference as the container runtime parses it: name[:tag][@digest].
const reference = /^[a-z0-9./-]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;

describe("the operator's images", () => {
  it("are repository:tag and repository:tag-cuda", () => {
    expect(imagesFor("ghcr.io/jude-dev/jude", "0.1.0")).toEqual({
      jude: "ghcr.io/jude-dev/jude:0.1.0",
      judeCuda: "ghcr.io/jude-dev/jude:0.1.0-cuda",
      pullSecrets: [],
    });
  });

  it("pin each image by its own digest, and stay valid references", () => {
    const images = imagesFor("ghcr.io/jude-dev/jude", "0.1.0", [], { digest: cpuDigest, cudaDigest });
    expect(images.jude).toBe(`ghcr.io/jude-dev/jude:0.1.0@${cpuDigest}`);
    expect(images.judeCuda).toBe(`ghcr.io/jude-dev/jude:0.1.0-cuda@${cudaDigest}`);
    for (const image of [images.jude, images.judeCuda]) expect(image).toMatch(reference);
    // The CUDA image is another image: the CPU digest never pins it.
    expect(imagesFor("r/jude", "1.0", [], { digest: cpuDigest }).judeCuda).toBe("r/jude:1.0-cuda");
  });

  it("carry the pull policy to the containers running them, not to a resource's own image", () => {
    const images = imagesFor("r/jude", "1.0", [], { pullPolicy: "Always" });
    const spec = withPullPolicy(
      {
        initContainers: [{ name: "fetch-model", image: images.jude }],
        containers: [
          { name: "serve", image: images.judeCuda },
          { name: "sidecar", image: "example.com/own:latest" },
        ],
      },
      images,
    );
    expect(spec.initContainers!.map((container) => container.imagePullPolicy)).toEqual(["Always"]);
    expect(spec.containers.map((container) => container.imagePullPolicy)).toEqual(["Always", undefined]);
    // No policy configured: the spec is unchanged (Kubernetes' default applies).
    const plain = { containers: [{ name: "serve", image: "r/jude:1.0" }] };
    expect(withPullPolicy(plain, imagesFor("r/jude", "1.0"))).toBe(plain);
  });
});
