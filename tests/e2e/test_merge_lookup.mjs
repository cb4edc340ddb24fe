// test_merge_lookup.mjs — the Node.js `mongodb` driver against duetd's $merge and $lookup:
// MongoDB's orders/inventory $lookup example, a whenMatched: fail $merge that stops with
// 11000 after writing the documents before the duplicate (as MongoDB: no rollback), and a
// $lookup whose results are merged into another database.
import assert from 'node:assert/strict';
import { MongoClient, MongoServerError } from 'mongodb';
import { runTests, startDuetd } from './duetd_fixture.mjs';

const duetd = await startDuetd();
const client = new MongoClient(duetd.uri('?directConnection=true'), { serverSelectionTimeoutMS: 5000 });
const db = client.db('mlnode');

await runTests({
  async 'lookup: orders joined with inventory'() {
    await db.collection('orders').insertMany([
      { _id: 1, item: 'almonds', price: 12, quantity: 2 },
      { _id: 2, item: 'pecans', price: 20, quantity: 1 },
      { _id: 3 },
    ]);
    await db.collection('inventory').insertMany([
      { _id: 1, sku: 'almonds', description: 'product 1', instock: 120 },
      { _id: 2, sku: 'bread', description: 'product 2', instock: 80 },
      { _id: 4, sku: 'pecans', description: 'product 4', instock: 70 },
      { _id: 5, sku: null, description: 'Incomplete' },
      { _id: 6 },
    ]);
    const joined = await db.collection('orders').aggregate([
      { $lookup: { from: 'inventory', localField: 'item', foreignField: 'sku', as: 'inventory_docs' } },
      { $project: { ids: '$inventory_docs._id' } },
    ]).toArray();
    assert.deepEqual(joined, [{ _id: 1, ids: [1] }, { _id: 2, ids: [4] }, { _id: 3, ids: [5, 6] }]);
  },

  async 'merge whenMatched fail keeps the writes before the duplicate'() {
    await db.collection('source').insertMany([{ _id: 1, a: 1 }, { _id: 2, a: 2 }, { _id: 3, a: 3 }]);
    await db.collection('target').insertMany([{ _id: 3, a: 30 }]);
    await assert.rejects(
      db.collection('source').aggregate([
        { $sort: { _id: 1 } },
        { $merge: { into: 'target', whenMatched: 'fail', whenNotMatched: 'insert' } },
      ]).toArray(),
      (error) => error instanceof MongoServerError && error.code === 11000 &&
        error.message.startsWith('$merge with whenMatched: fail found an existing document'),
    );
    const after = await db.collection('target').find().sort({ _id: 1 }).toArray();
    assert.deepEqual(after, [{ _id: 1, a: 1 }, { _id: 2, a: 2 }, { _id: 3, a: 30 }]);
  },

  async 'lookup results merged into another database'() {
    const out = await db.collection('orders').aggregate([
      { $match: { item: { $exists: true } } },
      { $lookup: { from: 'inventory', localField: 'item', foreignField: 'sku', as: 'inv' } },
      { $project: { stock: { $arrayElemAt: ['$inv.instock', 0] } } },
      { $merge: { into: { db: 'mlnode_report', coll: 'stock' } } },
    ]).toArray();
    assert.deepEqual(out, []);
    const stock = await client.db('mlnode_report').collection('stock').find().sort({ _id: 1 }).toArray();
    assert.deepEqual(stock, [{ _id: 1, stock: 120 }, { _id: 2, stock: 70 }]);
  },

  async 'stop cleanly'() {
    await client.close();
    await duetd.stop();
  },
});
