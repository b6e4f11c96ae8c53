import { Hl7Error } from './hl7-error.js';
import { segmentLines } from './parse.js';

/**
 * Splitting text that holds several messages: messages one after another, or an HL7 batch file
 * (HL7 v2.5.1 2.10.3: `[FHS] {BHS {MSH…} BTS} [FTS]`). Each MSH starts a message; the batch
 * envelope segments are taken out. BTS-1 (messages in the batch) and FTS-1 (batches in the file)
 * are checked when present; a mismatch, or text before the first MSH, is reported as a problem
 * while the messages found are still returned, each to be acknowledged on its own.
 */
export interface SplitMessages {
  /** Each message's text, segments joined by CR. */
  messages: string[];
  /** Envelope problems (counts that do not match, stray segments), as 0357 errors. */
  problems: Hl7Error[];
  /** True when the text carried FHS or BHS. */
  batch: boolean;
}

function firstField(line: string): string {
  const sep = line.charAt(3);
  return sep ? (line.split(sep)[1] ?? '').trim() : '';
}

/** Splits text into its messages, taking off a batch envelope (HL7 v2.5.1 2.10.3). */
export function splitMessages(text: string): SplitMessages {
  const messages: string[] = [];
  const problems: Hl7Error[] = [];
  let current: string[] | undefined;
  let inBatch = 0;
  let batches = 0;
  let batch = false;
  const close = (): void => {
    if (current) messages.push(current.join('\r'));
    current = undefined;
  };
  const check = (line: string, name: string, sequence: number, found: number, what: string): void => {
    const declared = firstField(line);
    if (declared !== '' && Number(declared) !== found) {
      problems.push(
        new Hl7Error(100, `${name}-1 says ${declared} ${what}, found ${found}`, {
          segment: name,
          sequence,
          field: 1,
        }),
      );
    }
  };
  segmentLines(text).forEach((line, i) => {
    const name = line.slice(0, 3);
    const sequence = i + 1;
    switch (name) {
      case 'MSH':
        close();
        current = [line];
        inBatch++;
        return;
      case 'FHS':
        close();
        batch = true;
        return;
      case 'BHS':
        close();
        batch = true;
        batches++;
        inBatch = 0;
        return;
      case 'BTS':
        close();
        check(line, name, sequence, inBatch, 'messages');
        return;
      case 'FTS':
        close();
        check(line, name, sequence, batches, 'batches');
        return;
      default:
        if (current) current.push(line);
        else
          problems.push(
            new Hl7Error(100, `segment ${name} outside any message`, { segment: name, sequence }),
          );
    }
  });
  close();
  return { messages, problems, batch };
}
