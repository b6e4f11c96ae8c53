import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { encodeFrame, MllpDecoder, type MllpEvent } from './mllp-framer.js';

const frame = (text: string): Buffer => encodeFrame(text);
const summary = (events: MllpEvent[]): string[] =>
  events.map((e) =>
    e.type === 'frame' ? `frame:${e.payload.toString('latin1')}` : `error:${e.kind}:${e.bytes}`,
  );

describe('MLLP framing', () => {
  it('decodes one frame', () => {
    assert.deepEqual(summary(new MllpDecoder(1024).push(frame('MSH|a'))), ['frame:MSH|a']);
  });

  it('splits two messages delivered in one chunk', () => {
    const chunk = Buffer.concat([frame('one'), frame('two')]);
    assert.deepEqual(summary(new MllpDecoder(1024).push(chunk)), ['frame:one', 'frame:two']);
  });

  it('joins a frame delivered byte by byte', () => {
    const decoder = new MllpDecoder(1024);
    const events: MllpEvent[] = [];
    for (const byte of Buffer.concat([frame('hello'), frame('world')]))
      events.push(...decoder.push(Buffer.from([byte])));
    assert.deepEqual(summary(events), ['frame:hello', 'frame:world']);
  });

  it('reports bytes outside a frame and still decodes the next frame', () => {
    const chunk = Buffer.concat([Buffer.from('junk'), frame('ok'), Buffer.from('\n')]);
    assert.deepEqual(summary(new MllpDecoder(1024).push(chunk)), [
      'error:outside-frame:4',
      'frame:ok',
      'error:outside-frame:1',
    ]);
  });

  it('drops a frame beyond the maximum size and resynchronises at the next frame', () => {
    const decoder = new MllpDecoder(16);
    const big = frame(`MSH|^~\\&|${'x'.repeat(100)}`);
    const events = [
      ...decoder.push(big.subarray(0, 50)),
      ...decoder.push(Buffer.concat([big.subarray(50), frame('small')])),
    ];
    assert.deepEqual(summary(events), ['error:frame-too-large:110', 'frame:small']);
    const first = events[0];
    assert.ok(first?.type === 'error');
    assert.match(first.head?.toString('latin1') ?? '', /^MSH\|/);
  });

  it('reports a start block inside a frame as an unterminated frame', () => {
    const chunk = Buffer.concat([Buffer.from([0x0b]), Buffer.from('cut'), frame('next')]);
    assert.deepEqual(summary(new MllpDecoder(1024).push(chunk)), [
      'error:unterminated-frame:3',
      'frame:next',
    ]);
  });

  it('reports an end block not followed by CR', () => {
    const chunk = Buffer.from([0x0b, 0x41, 0x1c, 0x41]);
    assert.deepEqual(summary(new MllpDecoder(1024).push(chunk)), [
      'error:bad-frame-end:1',
      'error:outside-frame:1',
    ]);
  });

  it('never throws on random bytes', () => {
    const decoder = new MllpDecoder(64);
    for (let i = 0; i < 2000; i++) {
      const chunk = Buffer.from(
        Array.from({ length: 1 + Math.floor(Math.random() * 64) }, () => Math.floor(Math.random() * 256)),
      );
      decoder.push(chunk);
    }
    assert.deepEqual(summary(decoder.push(Buffer.concat([frame('x'), frame('after')]))).slice(-1), [
      'frame:after',
    ]);
  });

  it('encodes a frame as 0x0B message 0x1C 0x0D', () => {
    assert.deepEqual([...encodeFrame('A')], [0x0b, 0x41, 0x1c, 0x0d]);
  });
});
