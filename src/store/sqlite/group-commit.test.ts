import assert from 'node:assert/strict';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';

/** A fake transaction log: what was committed, and what a sync made durable. */
function harness(overrides: Partial<GroupCommitOptions<number>> = {}) {
  const committed: number[] = [];
  let pending: number[] = [];
  const durable: number[] = [];
  const syncs: { release: () => void; fail: (error: Error) => void; covers: number[] }[] = [];
  const writer = new GroupCommit<number>({
    begin: () => {
      pending = [];
    },
    check: (n) => {
      if (n < 0) throw new Error(`refused ${n}`);
    },
    apply: (n) => pending.push(n),
    savepoint: () => undefined,
    release: () => undefined,
    rollbackToSavepoint: () => undefined,
    commit: () => {
      committed.push(...pending);
    },
    rollback: () => undefined,
    sync: () =>
      new Promise<void>((resolve, reject) => {
        const covers = [...committed];
        syncs.push({
          covers,
          release: () => {
            durable.push(...covers.filter((n) => !durable.includes(n)));
            resolve();
          },
          fail: reject,
        });
      }),
    ...overrides,
  });
  return { writer, committed, durable, syncs };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit with a log sync', () => {
  it('answers a batch only after a sync that began after its commit', async () => {
    const { writer, committed, durable, syncs } = harness();
    const answered: number[] = [];
    const first = [1, 2, 3].map((n) => writer.submit(n).then(() => answered.push(n)));
    await turn();
    assert.equal(syncs.length, 1);
    assert.equal(answered.length, 0, 'committed, not yet synced: nobody is answered');
    // a second batch commits while the first sync runs; it must wait for a sync of its own
    const second = [4, 5].map((n) => writer.submit(n).then(() => answered.push(n)));
    await turn();
    assert.equal(syncs.length, 1, 'one sync at a time');
    assert.deepEqual(committed, [1, 2, 3], 'what arrives during a sync waits for it, to share one commit');
    syncs[0]!.release();
    await Promise.all(first);
    assert.deepEqual(answered.sort(), [1, 2, 3]);
    await turn();
    assert.equal(syncs.length, 2, 'the sets that arrived meanwhile share the next commit and sync');
    assert.equal(writer.stats.commits, 2);
    assert.deepEqual(syncs[1]!.covers, [1, 2, 3, 4, 5]);
    syncs[1]!.release();
    await Promise.all(second);
    for (const n of answered) assert.ok(durable.includes(n), `${n} was answered before it was durable`);
    assert.equal(writer.stats.syncs, 2);
  });

  it('refuses a set that fails its check at once, without waiting for the sync', async () => {
    const { writer, syncs } = harness();
    const ok = writer.submit(1);
    await assert.rejects(writer.submit(-1), /refused -1/);
    await turn();
    syncs[0]!.release();
    await ok;
  });

  it('rejects the waiting writers and every later write when a sync fails', async () => {
    const { writer, syncs } = harness();
    const waiting = writer.submit(1);
    await turn();
    syncs[0]!.fail(new Error('EIO'));
    await assert.rejects(waiting, /EIO/);
    await assert.rejects(writer.submit(2), /EIO/);
  });

  it('answers at once while relaxed (a bulk load syncs at its end)', async () => {
    const { writer, syncs } = harness({ relaxed: () => true });
    await writer.submit(1);
    assert.equal(syncs.length, 0);
  });

  it('settles once every committed batch is synced', async () => {
    const { writer, syncs } = harness();
    const answered: number[] = [];
    void writer.submit(1).then(() => answered.push(1));
    writer.flush();
    const settled = writer.settled().then(() => answered.push(0));
    await turn();
    syncs[0]!.release();
    await settled;
    assert.deepEqual(answered, [1, 0]);
  });
});
