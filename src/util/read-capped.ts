// Reads an HTTP response body up to a byte bound (remote bintu, peer edges' JWKS, routed edges'
// load reports): a peer that sends more is cut off after `max` bytes, never buffered whole.
export class BodyError extends Error {
  override name = "BodyError";
  constructor(
    readonly kind: "too_large" | "not_utf8",
    message: string,
  ) {
    super(message);
  }
}

export async function readCapped(res: Response, max: number): Promise<string> {
  const tooLarge = () => new BodyError("too_large", `response larger than ${max} bytes`);
  if (Number(res.headers.get("content-length")) > max) {
    void res.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      void reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks, total));
  } catch {
    throw new BodyError("not_utf8", "response is not UTF-8");
  }
}
