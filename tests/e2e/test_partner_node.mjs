// test_partner_node.mjs — a version-2 client in Node (the `mongodb` driver) on TaskV2 next to a
// version-1 client on Task, during a migration run by duetd: `duet plan | apply` from the CLI,
// both clients writing at the same time, each reading the other's writes, a write the mirror
// cannot carry failing with its code, then `duet verify` at 0.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient, MongoServerError, ObjectId } from 'mongodb';
import { runTests, startDuetd } from './duetd_fixture.mjs';

const duetdBinary = process.env.DUETD || path.join(import.meta.dirname, '..', '..', 'build', 'bin', 'duetd');
const duetBinary = process.env.DUET || path.join(path.dirname(duetdBinary), 'duet');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'duet-partner-node-'));
const task = (idType) => ({
  title: 'Task', bsonType: 'object', required: ['_id', 'name'],
  properties: { _id: { bsonType: idType }, name: { bsonType: 'string' }, complete: { bsonType: 'bool', default: false } },
});
fs.writeFileSync(path.join(tmp, 'task.json'), JSON.stringify(task('objectId')));
fs.writeFileSync(path.join(tmp, 'taskv2.json'), JSON.stringify(task('string')));
const spec = path.join(tmp, 'spec.json');

const duetd = await startDuetd();
const duet = (...args) => spawnSync(duetBinary, [...args, '--uri', duetd.uri()], { encoding: 'utf8' });

await runTests({
  async 'version 1 and version 2 clients side by side'() {
    const plan = spawnSync(duetBinary, ['plan', path.join(tmp, 'task.json'), path.join(tmp, 'taskv2.json'), '-o', spec],
      { encoding: 'utf8' });
    assert.equal(plan.status, 1, plan.stderr); // a breaking change: spec written
    const v1 = new MongoClient(duetd.uri(), { serverSelectionTimeoutMS: 5000 });
    const v2 = new MongoClient(duetd.uri(), { serverSelectionTimeoutMS: 5000 });
    const tasks = v1.db('test').collection('Task');
    const tasksV2 = v2.db('test').collection('TaskV2');
    await tasks.insertMany(Array.from({ length: 2000 }, (_, i) => ({ _id: new ObjectId(), name: `task ${i}`, complete: false })));
    let result = duet('check', spec);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    result = duet('apply', spec);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /backfill done: 2000 documents copied/);

    // both at once: v1 inserts and completes tasks, v2 inserts and renames tasks
    const v1Ids = [];
    const v2Ids = [];
    await Promise.all([
      (async () => {
        for (let i = 0; i < 100; i++) {
          const id = new ObjectId();
          v1Ids.push(id);
          await tasks.insertOne({ _id: id, name: `v1 task ${i}` });
          await tasks.updateOne({ _id: id }, { $set: { complete: true } });
        }
      })(),
      (async () => {
        for (let i = 0; i < 100; i++) {
          const id = new ObjectId().toHexString();
          v2Ids.push(id);
          await tasksV2.insertOne({ _id: id, name: `v2 task ${i}`, complete: false });
          await tasksV2.updateOne({ _id: id }, { $set: { name: `v2 task ${i} renamed` } });
        }
      })(),
    ]);
    // each reads the other's writes, in its own _id type
    const seenByV2 = await tasksV2.findOne({ _id: v1Ids[42].toHexString() });
    assert.deepEqual(seenByV2, { _id: v1Ids[42].toHexString(), name: 'v1 task 42', complete: true });
    const seenByV1 = await tasks.findOne({ _id: new ObjectId(v2Ids[7]) });
    assert.deepEqual(seenByV1, { _id: new ObjectId(v2Ids[7]), name: 'v2 task 7 renamed', complete: false });
    assert.equal(await tasks.countDocuments(), 2200);
    assert.equal(await tasksV2.countDocuments(), 2200);

    // a version-2 _id that is no objectId cannot reach version 1: refused as a whole
    await assert.rejects(tasksV2.insertOne({ _id: 'task-1', name: 'bad' }),
      (error) => error instanceof MongoServerError && error.code === 241 && /partner link test.Task:TaskV2/.test(error.message));
    assert.equal(await tasksV2.countDocuments({ _id: 'task-1' }), 0);

    result = duet('verify', spec, '--json');
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.equal(JSON.parse(result.stdout).differences, 0);
    await v1.close();
    await v2.close();
  },

  async 'stop cleanly'() {
    fs.rmSync(tmp, { recursive: true, force: true });
    await duetd.stop();
  },
});
