// Helpers for the init scripts (mongosh --nodb): idempotent replica-set initiation.
// mongosh throws on a failed command where the legacy shell returned { ok: 0 }: `run` gives
// one shape for both.

const NOT_YET_INITIALIZED = 94;
const ALREADY_INITIALIZED = 23;

function run(db, command) {
  try {
    return db.runCommand(command);
  } catch (error) {
    return { ok: 0, code: error.code, errmsg: error.message };
  }
}

function check(reply, what) {
  if (reply.ok !== 1) {
    throw new Error(`${what} failed: ${JSON.stringify(reply)}`);
  }
  return reply;
}

function waitFor(description, ready, seconds = 180) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      if (ready()) {
        return;
      }
    } catch (error) {
      // not reachable yet: try again
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${description}`);
    }
    sleep(1000);
  }
}

function connectDirect(host) {
  let connection = null;
  waitFor(`${host} to answer`, () => {
    connection = new Mongo(`mongodb://${host}/?directConnection=true`);
    return connection.getDB("admin").runCommand({ ping: 1 }).ok === 1;
  });
  return connection;
}

function initiateReplicaSet(config) {
  const admin = connectDirect(config.members[0].host).getDB("admin");
  const status = run(admin, { replSetGetStatus: 1 });
  if (status.ok === 1) {
    print(`${config._id}: already initiated`);
  } else if (status.code === NOT_YET_INITIALIZED) {
    const reply = run(admin, { replSetInitiate: config });
    if (reply.ok !== 1 && reply.code !== ALREADY_INITIALIZED) {
      check(reply, `replSetInitiate ${config._id}`);
    }
    print(`${config._id}: initiated`);
  } else {
    check(status, `replSetGetStatus ${config._id}`);
  }
  waitFor(`${config._id} to elect a primary`, () =>
    run(admin, { replSetGetStatus: 1 }).members.some((member) => member.stateStr === "PRIMARY"),
  );
  print(`${config._id}: primary elected`);
}
