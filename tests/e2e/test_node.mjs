// test_node.mjs — the Node.js `mongodb` driver (pinned in package-lock.json) against duetd:
// handshake with and without replicaSet, hello field types as the driver parses them,
// ping, CommandNotFound, explicit sessions, cursor errors, many concurrent operations.
import assert from 'node:assert/strict';
import { Long, MongoClient, MongoServerError, Timestamp, ObjectId } from 'mongodb';
import { runTests, startDuetd } from './duetd_fixture.mjs';

const duetd = await startDuetd('--replSet', 'noders');
const address = `127.0.0.1:${duetd.port}`;

await runTests({
  async 'connect directly and ping'() {
    const client = new MongoClient(duetd.uri(), { serverSelectionTimeoutMS: 5000 });
    await client.connect();
    const reply = await client.db('admin').command({ ping: 1 });
    assert.equal(reply.ok, 1);
    assert.ok(reply.operationTime instanceof Timestamp);
    assert.ok(reply.$clusterTime.clusterTime instanceof Timestamp);
    // a single seed without directConnection: the driver follows hello's hosts
    assert.equal(client.topology.description.type, 'ReplicaSetWithPrimary');
    await client.close();
    const direct = new MongoClient(duetd.uri('?directConnection=true'), { serverSelectionTimeoutMS: 5000 });
    assert.equal((await direct.db('test').command({ ping: 1 })).ok, 1);
    assert.equal(direct.topology.description.type, 'Single');
    await direct.close();
  },

  async 'replica set discovery through hosts'() {
    const client = new MongoClient(duetd.uri('?replicaSet=noders'), { serverSelectionTimeoutMS: 5000 });
    await client.connect();
    const hello = await client.db('admin').command({ hello: 1 });
    assert.equal(hello.setName, 'noders');
    assert.deepEqual(hello.hosts, [address]);
    assert.equal(hello.isWritablePrimary, true);
    assert.ok(hello.electionId instanceof ObjectId);
    assert.ok(hello.localTime instanceof Date);
    assert.ok(hello.operationTime instanceof Timestamp);
    assert.equal(hello.maxWireVersion, 21);
    assert.equal(hello.logicalSessionTimeoutMinutes, 30);
    const description = client.topology.description;
    assert.equal(description.type, 'ReplicaSetWithPrimary');
    assert.equal(description.servers.get(address).type, 'RSPrimary');
    await client.close();
  },

  async 'command not found'() {
    const client = new MongoClient(duetd.uri(), { serverSelectionTimeoutMS: 5000 });
    await assert.rejects(client.db('test').command({ fooBar: 1 }), (error) => {
      assert.ok(error instanceof MongoServerError);
      assert.equal(error.code, 59);
      assert.equal(error.codeName, 'CommandNotFound');
      assert.equal(error.message, "no such command: 'fooBar'");
      return true;
    });
    await client.close();
  },

  async 'explicit session and admin commands'() {
    const client = new MongoClient(duetd.uri(), { serverSelectionTimeoutMS: 5000 });
    const session = client.startSession();
    const reply = await client.db('admin').command({ serverStatus: 1 }, { session });
    assert.equal(reply.process, 'duetd');
    assert.ok(reply.logicalSessionRecordCache.activeSessionsCount >= 1);
    await session.endSession();
    const info = await client.db('admin').admin().buildInfo();
    assert.equal(info.version, '7.0.0');
    const commands = await client.db('admin').command({ listCommands: 1 });
    assert.ok(commands.commands.hello);
    await client.close(); // sends endSessions
  },

  async 'cursor errors keep int64 ids'() {
    const client = new MongoClient(duetd.uri(), { serverSelectionTimeoutMS: 5000 });
    await assert.rejects(client.db('test').command({ getMore: Long.fromNumber(42), collection: 'c' }),
      (error) => error.code === 43);
    const killed = await client.db('test').command({ killCursors: 'c', cursors: [Long.fromNumber(42)] });
    assert.equal(killed.cursorsNotFound.length, 1);
    await client.close();
  },

  async 'many concurrent operations on one pool'() {
    const client = new MongoClient(duetd.uri(), { serverSelectionTimeoutMS: 5000, maxPoolSize: 20 });
    const replies = await Promise.all(Array.from({ length: 500 }, () => client.db('admin').command({ ping: 1 })));
    assert.equal(replies.filter((r) => r.ok === 1).length, 500);
    await client.close();
  },

  async 'stop cleanly'() {
    await duetd.stop();
  },
});
