// test_mongosh.mjs — mongosh (pinned in package-lock.json) against duetd: its startup
// (buildInfo, getParameter, getLog startupWarnings, hello) without errors, then
// scripted commands with --eval: ping, db.version(), hello, CommandNotFound.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTests, startDuetd } from './duetd_fixture.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const mongosh = path.join(here, 'node_modules', '.bin', 'mongosh');
const duetd = await startDuetd();

function shell(args, script) {
  return new Promise((resolve, reject) => {
    execFile(mongosh, [...args, duetd.uri(), '--eval', script],
      { timeout: 60000, env: { ...process.env, MONGOSH_NO_UPDATE_CHECK: '1', HOME: process.env.HOME || '/tmp' } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`mongosh failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve({ stdout, stderr });
      });
  });
}

// Types `input` into an interactive mongosh (stdin) and returns what it printed.
function typed(input) {
  return new Promise((resolve, reject) => {
    const child = execFile(mongosh, ['--quiet', duetd.uri()],
      { timeout: 60000, env: { ...process.env, MONGOSH_NO_UPDATE_CHECK: '1', HOME: process.env.HOME || '/tmp' } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`mongosh failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout + stderr);
      });
    child.stdin.end(input);
  });
}

await runTests({
  async 'ping and version'() {
    const { stdout } = await shell(['--quiet'],
      'print(JSON.stringify({ping: db.runCommand({ping: 1}).ok, version: db.version()}))');
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()), { ping: 1, version: '7.0.0' });
  },

  async 'hello through the shell helper'() {
    const { stdout } = await shell(['--quiet'],
      'const h = db.hello(); print(JSON.stringify({w: h.isWritablePrimary, set: h.setName, hosts: h.hosts}))');
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()),
      { w: true, set: 'rs0', hosts: [`127.0.0.1:${duetd.port}`] });
  },

  async 'command not found'() {
    const { stdout } = await shell(['--quiet'],
      'try { db.runCommand({fooBar: 1}); print("no error") } catch (e) { print(JSON.stringify({code: e.code, message: e.message})) }');
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()), { code: 59, message: "no such command: 'fooBar'" });
  },

  async 'insert, find, show dbs and collections'() {
    const { stdout } = await shell(['--quiet'], `
      use("shelldb");
      db.Task.insertMany([{ name: "a", complete: false }, { name: "b", complete: true }]);
      const done = db.Task.find({ complete: true }, { _id: 0 }).toArray();
      const dbs = db.adminCommand({ listDatabases: 1 }).databases.map((d) => d.name);
      print(JSON.stringify({ done, collections: db.getCollectionNames(), hasDb: dbs.includes("shelldb"),
                             count: db.Task.find().toArray().length }));`);
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()),
      { done: [{ name: 'b', complete: true }], collections: ['Task'], hasDb: true, count: 2 });
    const shown = await typed('use shelldb\nshow collections\nshow dbs\n');
    assert.match(shown, /Task/);
    assert.match(shown, /shelldb/);
    assert.doesNotMatch(shown, /MongoServerError|Error:/);
  },

  async "the seeds' snippet runs verbatim and produces TaskV2"() {
    await shell(['--quiet'], `use("ExampleDB"); db.Task.insertMany([{ name: "a", complete: false }, { name: "b", complete: true }]);`);
    await shell(['--quiet'], 'use("ExampleDB"); db.Task.aggregate([{ $match: {} }, { $addFields: { _id: { $toString: "$_id" } } }, { $out: "TaskV2" }]);');
    const { stdout } = await shell(['--quiet'], `use("ExampleDB");
      const v1 = db.Task.find().sort({ name: 1 }).toArray(); const v2 = db.TaskV2.find().sort({ name: 1 }).toArray();
      print(JSON.stringify({ same: v1.length === 2 && v2.length === 2 && v1.every((d, i) => d._id.toString() === v2[i]._id && d.name === v2[i].name),
                             types: v2.map((d) => typeof d._id) }));`);
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()), { same: true, types: ['string', 'string'] });
  },

  async 'interactive startup prints no errors'() {
    const { stdout, stderr } = await shell([], 'print("started")');
    assert.match(stdout, /started/);
    assert.doesNotMatch(stdout + stderr, /MongoServerError|Error:|Non-Genuine/);
  },

  async 'stop cleanly'() {
    await duetd.stop();
  },
});
