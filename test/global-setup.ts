import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { type MongoServer, startMongoServer } from './helpers/mongo-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    mongoUri: string;
  }
}

let embedded: MongoServer | undefined;
// One directory per run, so runs side by side never share (and stop) each other's database.
const dataDir = resolve('.data-test', `run-${process.pid}`);

/** One real MongoDB-wire server for the whole run: MONGODB_URI if given, else the embedded launcher's. */
export async function setup(project: TestProject): Promise<void> {
  let uri = process.env.MONGODB_URI;
  if (!uri) {
    embedded = await startMongoServer(dataDir, (line) => console.log(`[test db] ${line}`));
    uri = embedded.uri;
  }
  project.provide('mongoUri', uri);
}

export async function teardown(): Promise<void> {
  await embedded?.stop();
  if (embedded) rmSync(dataDir, { recursive: true, force: true });
}
