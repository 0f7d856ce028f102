// The `sharded` profile's cluster (idempotent), run once by the mongo-shard-init service:
// the config-server and shard replica sets, the shards added through mongos, and the task
// collections sharded on a hashed owner_id. Every hot query names its owner, so each one is
// routed to a single shard; hashing spreads owners evenly from the first write.
load("replica-set.js");

const DATABASE = process.env.MONGODB_DB || "taskql";
const SHARD_KEY = { owner_id: "hashed" };
const SHARDED_COLLECTIONS = ["tasks", "task_events"];
const SHARDS = [
  { _id: "shard1rs", members: [{ _id: 0, host: "mongo-shard1:27018" }] },
  { _id: "shard2rs", members: [{ _id: 0, host: "mongo-shard2:27018" }] },
];

initiateReplicaSet({
  _id: "cfgrs",
  configsvr: true,
  members: [{ _id: 0, host: "mongo-cfg:27019" }],
});
SHARDS.forEach(initiateReplicaSet);

const mongos = connectDirect("mongos:27017");
const admin = mongos.getDB("admin");
waitFor("mongos to reach the config servers", () => run(admin, { listShards: 1 }).ok === 1);

const present = check(run(admin, { listShards: 1 }), "listShards").shards.map((s) => s._id);
for (const shard of SHARDS) {
  if (present.includes(shard._id)) {
    print(`${shard._id}: already a shard`);
    continue;
  }
  const seeds = shard.members.map((member) => member.host).join(",");
  check(run(admin, { addShard: `${shard._id}/${seeds}`, name: shard._id }), `addShard ${shard._id}`);
  print(`${shard._id}: added`);
}

check(run(admin, { enableSharding: DATABASE }), `enableSharding ${DATABASE}`);
for (const collection of SHARDED_COLLECTIONS) {
  const namespace = `${DATABASE}.${collection}`;
  const sharded = mongos.getDB("config").getCollection("collections").findOne({ _id: namespace });
  if (sharded) {
    print(`${namespace}: already sharded on ${JSON.stringify(sharded.key)}`);
    continue;
  }
  // Before the app's first start the collection is empty, so MongoDB builds the hashed index.
  check(run(admin, { shardCollection: namespace, key: SHARD_KEY }), `shardCollection ${namespace}`);
  print(`${namespace}: sharded on ${JSON.stringify(SHARD_KEY)}`);
}
