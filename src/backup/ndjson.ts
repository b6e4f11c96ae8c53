/** Splits a text stream into its lines (without the newline); a last line needs no newline. */
export async function* lines(chunks: AsyncIterable<string>): AsyncIterable<string> {
  let rest = '';
  for await (const chunk of chunks) {
    const text = rest + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      yield text.slice(start, nl);
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  if (rest !== '') yield rest;
}

/** Serialises objects one per line, handed on in chunks of about `chunkChars` characters. */
export async function* ndjsonChunks<T>(
  items: AsyncIterable<T>,
  onItem?: (item: T) => void,
  chunkChars = 256 * 1024,
): AsyncIterable<string> {
  let chunk = '';
  for await (const item of items) {
    onItem?.(item);
    chunk += JSON.stringify(item) + '\n';
    if (chunk.length >= chunkChars) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}
