// Server-sent events (the text/event-stream format of the HTML standard) read from a fetch
// response's body: what an OpenAI-style streamed completion arrives as. EventSource cannot be
// used for it: it only sends GET, without an Authorization header.

const LINE_END = /\r\n|\n|\r(?!$)/;

// Yields the data of each event (its `data:` lines joined by newlines), as the bytes arrive in
// pieces of any size. Lines end in LF, CRLF or CR; a CR at the end of what has arrived waits for
// the next piece, since it may be the first half of a CRLF. As the standard says, an event not
// closed by a blank line when the stream ends is dropped. Leaving the loop early cancels the body.
export async function* serverSentEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();  // keeps a character split between pieces; drops a BOM
  let buffer = '';
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let m = LINE_END.exec(buffer); m !== null; m = LINE_END.exec(buffer)) {
        const line = buffer.slice(0, m.index);
        buffer = buffer.slice(m.index + m[0].length);
        if (line === '') {
          if (data.length) yield data.join('\n');
          data = [];
        } else if (!line.startsWith(':')) {  // a colon first: a comment (keep-alive)
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          if (field === 'data') data.push(colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, ''));
        }
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
