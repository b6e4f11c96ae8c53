/**
 * MLLP framing (HL7 v2 Transport Specification: MLLP Release 2, block format): a message is
 * `0x0B` (start block), the message bytes, then `0x1C 0x0D` (end block). Pure: bytes in, frames
 * and framing errors out, no sockets. Strict: bytes outside a frame are reported, never guessed
 * into a message.
 */

export const START_BLOCK = 0x0b;
export const END_BLOCK = 0x1c;
export const CARRIAGE_RETURN = 0x0d;

export type FramingErrorKind =
  /** bytes arrived between frames */
  | 'outside-frame'
  /** the frame grew beyond the maximum size; it was dropped up to the next start block */
  | 'frame-too-large'
  /** a new start block arrived before the end of the frame; the partial frame was dropped */
  | 'unterminated-frame'
  /** 0x1C was not followed by 0x0D; the frame was dropped */
  | 'bad-frame-end';

/** A framing error; `head` holds the first bytes of a frame that was too large (to read its MSH). */
export type MllpEvent =
  | { type: 'frame'; payload: Buffer }
  | { type: 'error'; kind: FramingErrorKind; bytes: number; head?: Buffer };

const HEAD_BYTES = 4096;

type State = 'between' | 'inFrame' | 'afterEnd' | 'skipping';

/**
 * Incremental MLLP decoder. Feed it chunks as they arrive with `push`; it returns the complete
 * frames and framing errors they finished, in order. After an error it resynchronises at the
 * next start block.
 */
export class MllpDecoder {
  private state: State = 'between';
  private parts: Buffer[] = [];
  private size = 0;
  private stray = 0;
  private skipped = 0;
  private head = Buffer.alloc(0);
  private swallowCr = false;

  constructor(private readonly maxFrameBytes: number) {}

  /** True while part of a frame is buffered (used to tell a clean close from a cut one). */
  get inFrame(): boolean {
    return this.state === 'inFrame' || this.state === 'afterEnd';
  }

  push(chunk: Buffer): MllpEvent[] {
    const events: MllpEvent[] = [];
    let i = 0;
    while (i < chunk.length) {
      switch (this.state) {
        case 'between': {
          if (this.swallowCr && chunk[i] === CARRIAGE_RETURN) i++;
          this.swallowCr = false;
          const start = chunk.indexOf(START_BLOCK, i);
          const end = start < 0 ? chunk.length : start;
          this.stray += end - i;
          i = end;
          if (start >= 0) {
            this.flushStray(events);
            this.begin();
            i++;
          }
          break;
        }
        case 'skipping': {
          const endAt = chunk.indexOf(END_BLOCK, i);
          const startAt = chunk.indexOf(START_BLOCK, i);
          if (startAt >= 0 && (endAt < 0 || startAt < endAt)) {
            this.skipped += startAt - i;
            this.tooLarge(events);
            this.begin();
            i = startAt + 1;
          } else if (endAt >= 0) {
            this.skipped += endAt + 1 - i;
            this.tooLarge(events);
            this.state = 'between';
            this.swallowCr = true;
            i = endAt + 1;
          } else {
            this.skipped += chunk.length - i;
            i = chunk.length;
          }
          break;
        }
        case 'inFrame': {
          const endAt = chunk.indexOf(END_BLOCK, i);
          const startAt = chunk.indexOf(START_BLOCK, i);
          if (startAt >= 0 && (endAt < 0 || startAt < endAt)) {
            this.append(chunk.subarray(i, startAt));
            events.push({ type: 'error', kind: 'unterminated-frame', bytes: this.size });
            this.begin();
            i = startAt + 1;
            break;
          }
          const stop = endAt < 0 ? chunk.length : endAt;
          this.append(chunk.subarray(i, stop));
          i = stop;
          if (this.size > this.maxFrameBytes) {
            this.skipped = this.size;
            this.head = Buffer.concat(this.parts).subarray(0, HEAD_BYTES);
            this.parts = [];
            this.size = 0;
            this.state = 'skipping';
          } else if (endAt >= 0) {
            this.state = 'afterEnd';
            i++;
          }
          break;
        }
        case 'afterEnd': {
          if (chunk[i] === CARRIAGE_RETURN) {
            events.push({ type: 'frame', payload: Buffer.concat(this.parts, this.size) });
            i++;
          } else {
            events.push({ type: 'error', kind: 'bad-frame-end', bytes: this.size });
          }
          this.parts = [];
          this.size = 0;
          this.state = 'between';
          break;
        }
      }
    }
    this.flushStray(events);
    return events;
  }

  private tooLarge(events: MllpEvent[]): void {
    events.push({ type: 'error', kind: 'frame-too-large', bytes: this.skipped, head: this.head });
    this.skipped = 0;
    this.head = Buffer.alloc(0);
  }

  private begin(): void {
    this.parts = [];
    this.size = 0;
    this.state = 'inFrame';
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    // copy: the socket may reuse its chunk's memory
    this.parts.push(Buffer.from(bytes));
    this.size += bytes.length;
  }

  private flushStray(events: MllpEvent[]): void {
    if (this.stray > 0) events.push({ type: 'error', kind: 'outside-frame', bytes: this.stray });
    this.stray = 0;
  }
}

/** Wraps a message (an ACK) in an MLLP frame. */
export function encodeFrame(message: string | Buffer, encoding: BufferEncoding = 'utf8'): Buffer {
  const body = typeof message === 'string' ? Buffer.from(message, encoding) : message;
  const frame = Buffer.allocUnsafe(body.length + 3);
  frame[0] = START_BLOCK;
  body.copy(frame, 1);
  frame[body.length + 1] = END_BLOCK;
  frame[body.length + 2] = CARRIAGE_RETURN;
  return frame;
}
