// test_changestream.mjs — change streams through duetd with the Node.js `mongodb` driver:
// collection.watch() event shapes, fullDocument: 'updateLookup', fullDocumentBeforeChange on a
// collection recording pre-images, $match after $changeStream, db.watch() and client.watch(),
// resumeAfter from a new client, startAtOperationTime, invalidate closing the stream, and the
// driver's own resume after the server killed its cursor.
import assert from 'node:assert/strict';
import { MongoClient, Timestamp } from 'mongodb';
import { runTests, startDuetd } from './duetd_fixture.mjs';

const duetd = await startDuetd();
const client = new MongoClient(duetd.uri(), { serverSelectionTimeoutMS: 5000 });
await client.connect();
const db = client.db('nodestreams');

// Waits for `count` events from a change stream (with a deadline).  next(), not tryNext():
// only next() caches each event's resume token in this driver version.
async function take(stream, count, timeoutMs = 10000) {
  const events = [];
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`only ${events.length} of ${count} events: ${JSON.stringify(events)}`)),
      timeoutMs);
  });
  try {
    while (events.length < count) events.push(await Promise.race([stream.next(), timeout]));
  } finally {
    clearTimeout(timer);
  }
  return events;
}

// A started stream: the driver sends the aggregate lazily, so pull once before writing.
async function watching(target, pipeline = [], options = {}) {
  const stream = target.watch(pipeline, { maxAwaitTimeMS: 200, ...options });
  assert.equal(await stream.tryNext(), null);
  return stream;
}

await runTests({
  async 'collection events'() {
    const coll = db.collection('events');
    const stream = await watching(coll);
    assert.ok(stream.resumeToken?._data, 'postBatchResumeToken of the empty first batch');
    await coll.insertOne({ _id: 1, a: 1, gone: true });
    await coll.updateOne({ _id: 1 }, { $set: { a: 2 }, $unset: { gone: '' } });
    await coll.replaceOne({ _id: 1 }, { b: 1 });
    await coll.deleteOne({ _id: 1 });
    const [insert, update, replace, remove] = await take(stream, 4);
    assert.equal(insert.operationType, 'insert');
    assert.deepEqual(insert.fullDocument, { _id: 1, a: 1, gone: true });
    assert.deepEqual(insert.ns, { db: 'nodestreams', coll: 'events' });
    assert.deepEqual(insert.documentKey, { _id: 1 });
    assert.ok(insert.clusterTime instanceof Timestamp);
    assert.ok(insert.wallTime instanceof Date);
    assert.equal(typeof insert._id._data, 'string');
    assert.deepEqual(update.updateDescription, { updatedFields: { a: 2 }, removedFields: ['gone'], truncatedArrays: [] });
    assert.equal(update.fullDocument, undefined);
    assert.deepEqual(replace.fullDocument, { _id: 1, b: 1 });
    assert.equal(remove.operationType, 'delete');
    assert.deepEqual(remove.documentKey, { _id: 1 });
    assert.deepEqual(stream.resumeToken, remove._id);
    await stream.close();
  },

  async 'updateLookup, pre-images and $match'() {
    await db.createCollection('images', { changeStreamPreAndPostImages: { enabled: true } });
    const coll = db.collection('images');
    await coll.insertOne({ _id: 'k', n: 1 });
    const stream = await watching(coll, [{ $match: { operationType: { $in: ['update', 'delete'] } } }],
      { fullDocument: 'updateLookup', fullDocumentBeforeChange: 'required' });
    await coll.insertOne({ _id: 'skipped' });
    await coll.updateOne({ _id: 'k' }, { $inc: { n: 1 } });
    await coll.deleteOne({ _id: 'k' });
    const [update, remove] = await take(stream, 2);
    assert.equal(update.operationType, 'update');
    assert.ok(update.fullDocument === null || update.fullDocument.n === 2);
    assert.deepEqual(update.fullDocumentBeforeChange, { _id: 'k', n: 1 });
    assert.deepEqual(remove.fullDocumentBeforeChange, { _id: 'k', n: 2 });
    await stream.close();
  },

  async 'database and deployment streams'() {
    const dbStream = await watching(db);
    const clusterStream = await watching(client);
    await db.collection('one').insertOne({ _id: 'a' });
    await client.db('nodestreams_other').collection('two').insertOne({ _id: 'b' });
    await db.collection('three').insertOne({ _id: 'c' });
    assert.deepEqual((await take(dbStream, 2)).map((e) => e.ns.coll), ['one', 'three']);
    assert.deepEqual((await take(clusterStream, 3)).map((e) => e.documentKey._id), ['a', 'b', 'c']);
    await dbStream.close();
    await clusterStream.close();
  },

  async 'resume from a new client and at an operation time'() {
    const coll = db.collection('resume');
    const stream = await watching(coll);
    await coll.insertMany([{ _id: 0 }, { _id: 1 }, { _id: 2 }]);
    const [first] = await take(stream, 1);
    await stream.close();
    const other = new MongoClient(duetd.uri(), { serverSelectionTimeoutMS: 5000 });
    const resumed = other.db('nodestreams').collection('resume').watch([], { resumeAfter: first._id, maxAwaitTimeMS: 200 });
    assert.deepEqual((await take(resumed, 2)).map((e) => e.documentKey._id), [1, 2]);
    await resumed.close();
    const atTime = other.db('nodestreams').collection('resume')
      .watch([], { startAtOperationTime: first.clusterTime, maxAwaitTimeMS: 200 });
    assert.deepEqual((await take(atTime, 3)).map((e) => e.documentKey._id), [0, 1, 2]);
    await atTime.close();
    await other.close();
  },

  async 'invalidate closes the stream'() {
    const coll = db.collection('doomed');
    await coll.insertOne({ _id: 0 });
    const stream = await watching(coll);
    await coll.drop();
    const [drop, invalidate] = await take(stream, 2);
    assert.equal(drop.operationType, 'drop');
    assert.equal(invalidate.operationType, 'invalidate');
    assert.equal(stream.closed, true); // nothing follows an invalidate
  },

  async 'the driver resumes after its cursor was killed'() {
    const coll = db.collection('killed');
    const stream = await watching(coll);
    await coll.insertOne({ _id: 1 });
    await take(stream, 1);
    // killCursors through another connection: the next getMore gets 43 CursorNotFound, which
    // the driver treats as resumable and answers with a new aggregate resuming after event 1
    const cursorId = stream.cursor.id;
    await db.command({ killCursors: 'killed', cursors: [cursorId] });
    await coll.insertOne({ _id: 2 });
    const [second] = await take(stream, 1);
    assert.deepEqual(second.documentKey, { _id: 2 });
    await stream.close();
  },

  async 'stop cleanly'() {
    await client.close();
    await duetd.stop();
  },
});
