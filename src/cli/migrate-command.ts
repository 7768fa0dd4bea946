import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { openMongoStore } from '../store/mongo/store.ts';
import { openEmbeddedStore } from '../store/sqlite/store.ts';
import { type CollectionName, MIGRATED_COLLECTIONS, redactUri, type Store } from '../store/store.ts';
import { CONFIG_FLAG, ExitError, resolveAdminConfig } from './common.ts';

interface Options {
  to: string;
  database: string;
  batchSize: number;
  config?: string;
}

/** Where a copy stopped, per collection: the last _id copied (documents go in _id order). */
type Checkpoint = Partial<Record<CollectionName, string | 'done'>>;

function readCheckpoint(file: string): Checkpoint {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Checkpoint;
  } catch {
    return {};
  }
}

async function copy(source: Store, target: Store, options: Options, checkpointFile: string): Promise<void> {
  const checkpoint = readCheckpoint(checkpointFile);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  let totalNew = 0;
  for (const collection of MIGRATED_COLLECTIONS) {
    if (checkpoint[collection] === 'done') {
      log(`${collection}: copied by an earlier run`);
      continue;
    }
    let after = checkpoint[collection] ?? null;
    if (after) log(`${collection}: resuming after ${after}`);
    const total = await source.documents.estimate(collection);
    let seen = 0;
    let added = 0;
    let shownAt = 0;
    for (;;) {
      const docs = await source.documents.scan(collection, after, options.batchSize);
      if (!docs.length) break;
      added += await target.documents.insertNew(collection, docs);
      seen += docs.length;
      after = (docs.at(-1) as { _id: string })._id;
      checkpoint[collection] = after;
      writeFileSync(checkpointFile, JSON.stringify(checkpoint), { mode: 0o600 });
      if (Date.now() - shownAt > 1_000) {
        shownAt = Date.now();
        log(`${collection}: ${seen}/${total} read, ${added} new`);
      }
    }
    checkpoint[collection] = 'done';
    writeFileSync(checkpointFile, JSON.stringify(checkpoint), { mode: 0o600 });
    log(`${collection}: ${seen} read, ${added} new`);
    totalNew += added;
  }
  rmSync(checkpointFile, { force: true });
  log(`migrated: ${totalNew} documents copied; documents already in the target were left as they were`);
}

/**
 * aibridge migrate --to mongodb://… : copies the embedded store into MongoDB (README "Storage"), the
 * documents exactly as the MongoDB store writes them. Idempotent (documents already there are
 * skipped), resumable (a checkpoint in data_dir says how far each collection got), with
 * progress on stderr.
 */
export function migrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('copy the embedded store into MongoDB (idempotent, resumable)')
    .requiredOption('--to <uri>', 'the MongoDB to copy into, mongodb:// or mongodb+srv://')
    .option('--database <name>', 'database in the target', 'aibridge')
    .option('--batch-size <n>', 'documents per read and write', (v) => Number.parseInt(v, 10), 1_000)
    .option(...CONFIG_FLAG)
    .action(async (options: Options) => {
      if (!/^mongodb(\+srv)?:\/\//.test(options.to)) throw new ExitError('--to must be a mongodb:// URI', 2);
      if (!(options.batchSize > 0)) throw new ExitError('--batch-size must be a positive integer', 2);
      const config = resolveAdminConfig(options.config);
      if (config.mongodb.uri) {
        throw new ExitError(
          'this configuration already uses MongoDB; migrate copies the embedded store of data_dir',
          2,
        );
      }
      const source = openEmbeddedStore(config.data_dir, 'inline');
      let target: Store | undefined;
      try {
        target = await openMongoStore(options.to, options.database);
        process.stderr.write(`copying ${source.location} into ${target.location}\n`);
        const key = createHash('sha256')
          .update(`${redactUri(options.to)}\0${options.database}`)
          .digest('hex')
          .slice(0, 12);
        await copy(source, target, options, join(config.data_dir, `migrate-${key}.json`));
        process.stderr.write(
          `next: set mongodb.uri (or AIBRIDGE_MONGODB_URI) and mongodb.database: ${options.database} in the config and restart the bridge\n`,
        );
      } finally {
        await target?.close();
        await source.close();
      }
    });
}
