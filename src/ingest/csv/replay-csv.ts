import type { ServiceContext } from '../../service/context.js';
import { updateDeadLetter, type DeadLetter } from '../dead-letters.js';
import { bufferSource } from './csv-source.js';
import { ingestCsv, type CsvIngestOptions } from './ingest-csv.js';
import type { CsvCatalog } from './model.js';
import { HeaderError } from './read-csv.js';

/**
 * A CSV dead letter (its file's header and the one row) through the current mapping, as the row
 * it was: the same file (SHA-256, so identities and Provenance are those of the file) and row
 * number. Stored: the dead letter is removed. Rejected again: it stays, with the new reason.
 * With `audit`, the stored row leaves its AuditEvent in its own commit, naming who replayed it.
 */
export async function replayCsvDeadLetter(
  ctx: ServiceContext,
  letter: DeadLetter,
  catalog: CsvCatalog,
  audit?: CsvIngestOptions['audit'],
): Promise<{ stored: boolean; reason?: string }> {
  const about = letter.csv;
  if (!about) return { stored: false, reason: 'not a CSV row' };
  const keep = async (reason: string, column?: string): Promise<{ stored: false; reason: string }> => {
    const updated: DeadLetter = {
      ...letter,
      reason,
      location: `row ${about.row}${column ? `, column ${column}` : ''}`,
    };
    await updateDeadLetter(ctx.store, letter.id, updated);
    return { stored: false, reason };
  };
  const mapping = catalog.mappings.get(about.mapping);
  if (!mapping) return keep(`no CSV mapping ${about.mapping}`);
  try {
    const summary = await ingestCsv(
      ctx,
      bufferSource(about.file, Buffer.from(letter.text, 'utf8'), about.sha256),
      {
        mapping: { ...mapping, read: { ...mapping.read, encoding: 'utf-8' } },
        catalog,
        transport: letter.transport === 'http' ? 'http' : 'file',
        keepDeadLetters: false,
        checkpoint: false,
        firstRow: about.row,
        ...(audit ? { audit } : {}),
      },
    );
    const error = summary.errors[0];
    if (summary.stored === 1 && !error) {
      await updateDeadLetter(ctx.store, letter.id, null);
      return { stored: true };
    }
    return await keep(error?.reason ?? 'the row made nothing to store', error?.column);
  } catch (error) {
    if (error instanceof HeaderError) return keep(error.message);
    throw error;
  }
}
