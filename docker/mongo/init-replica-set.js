// The compose stack's replica set rs0 (idempotent), run once by the mongo-init service.
// mongo1 is preferred as primary so that a fresh stack always starts the same way.
load("replica-set.js");

initiateReplicaSet({
  _id: "rs0",
  members: [
    { _id: 0, host: "mongo1:27017", priority: 2 },
    { _id: 1, host: "mongo2:27017", priority: 1 },
    { _id: 2, host: "mongo3:27017", priority: 1 },
  ],
});
