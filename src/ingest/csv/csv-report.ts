import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4.js';
import { csvField, type CsvSummary, type RowReport } from './ingest-csv.js';

/**
 * What an ingest tells its caller: a one-line summary, the rejected rows as a report file
 * (`row,column,reason`, one line per rejected row) and the same as an OperationOutcome.
 */

/** `lab-results.csv: 5 rows: 4 stored, 1 rejected; resources: 3 created, 1 updated, 2 unchanged`. */
export function summaryLine(summary: CsvSummary): string {
  const resources = `resources: ${summary.created} created, ${summary.updated} updated, ${summary.unchanged} unchanged`;
  const refused = summary.atomic && !summary.committed ? ' — atomic: nothing stored' : '';
  const resumed = summary.resumedAfter !== undefined ? ` (resumed after row ${summary.resumedAfter})` : '';
  return `${summary.file}: ${summary.rows} rows: ${summary.stored} stored, ${summary.rejected} rejected; ${resources}${refused}${resumed}`;
}

/** The report of rejected rows, written as they come. */
export class ReportFile {
  private stream: WriteStream | undefined;
  rows = 0;

  /** `append`: a resumed ingest adds to the report of the run it resumes (the inbox does). */
  constructor(
    readonly path: string,
    private readonly append = false,
  ) {}

  write(report: RowReport): void {
    if (!this.stream) {
      const fresh = !this.append || !existsSync(this.path);
      this.stream = createWriteStream(this.path, { flags: this.append ? 'a' : 'w' });
      if (fresh) this.stream.write('row,column,reason\n');
    }
    this.rows++;
    this.stream.write(`${report.row},${csvField(report.column ?? '')},${csvField(report.reason)}\n`);
  }

  /** Flushes and closes it; resolves with whether the report exists (this run or one it resumed). */
  async close(): Promise<boolean> {
    const stream = this.stream;
    if (!stream) return this.append && existsSync(this.path);
    await new Promise<void>((resolve, reject) => {
      stream.once('error', reject);
      stream.end(resolve);
    });
    return true;
  }
}

/** One issue per rejected row (the first ones), after an informational summary. */
export function summaryOutcome(summary: CsvSummary, limit = 100): OperationOutcome {
  const issues: OperationOutcomeIssue[] = [
    {
      severity: summary.rejected > 0 ? 'warning' : 'information',
      code: summary.rejected > 0 ? 'incomplete' : 'informational',
      diagnostics: summaryLine(summary),
    },
  ];
  for (const e of summary.errors.slice(0, limit)) {
    issues.push({
      severity: 'error',
      code: 'value',
      diagnostics: `row ${e.row}${e.column ? `, column ${e.column}` : ''}: ${e.reason}`,
      location: [`Line[${e.row}]${e.column ? ` Col[${e.column}]` : ''}`],
    });
  }
  if (summary.rejected > limit)
    issues.push({
      severity: 'information',
      code: 'informational',
      diagnostics: `${summary.rejected - limit} more rejected rows are in the dead letters`,
    });
  return { resourceType: 'OperationOutcome', issue: issues };
}
