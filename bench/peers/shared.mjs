// What the Node peers share: the benchmarked subset of taskql's schema, its resolvers over data
// held in memory, and taskql's ids and cursors (so that the answers are equal).
//
// BENCH_PEER_DATA names a JSON file written by the harness before timing:
//   {"users": [{"id": "<hex>", "name": "...",
//               "tasks": [{"id": "<hex>", "title": "...", "status": "TODO", "created_ms": 0}]}]}
// The viewer is the `sub` of the bearer token, read without verifying its signature.
import { readFileSync } from 'node:fs';

export const host = process.env.HOST ?? '127.0.0.1';
export const port = Number(process.env.PORT ?? 8000);

export const typeDefs = /* GraphQL */ `
  type Query {
    me: User
    tasks(first: Int, after: String): TaskConnection!
  }
  type User {
    id: ID!
    name: String!
  }
  enum TaskStatus {
    TODO
    IN_PROGRESS
    DONE
  }
  type Task {
    id: ID!
    title: String!
    status: TaskStatus!
    owner: User!
  }
  type TaskEdge {
    cursor: String!
    node: Task!
  }
  type PageInfo {
    hasNextPage: Boolean!
    endCursor: String
  }
  type TaskConnection {
    edges: [TaskEdge!]!
    pageInfo: PageInfo!
  }
`;

const DEFAULT_PAGE_SIZE = 20;
const users = new Map();
const data = JSON.parse(readFileSync(process.env.BENCH_PEER_DATA, 'utf8'));
for (const user of data.users) {
  // Newest first, ties broken by id: taskql's default order.
  const tasks = [...user.tasks].sort((a, b) =>
    b.created_ms - a.created_ms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  );
  users.set(user.id, { id: user.id, name: user.name, tasks });
}

const b64 = (text) => Buffer.from(text).toString('base64url');
const globalId = (kind, ...ids) => b64([kind, ...ids].join(':'));
const encodeCursor = (task) =>
  b64(JSON.stringify(['t1', 'CREATED_AT', 'DESC', task.created_ms, task.id]));

export function viewerOf(authorization) {
  if (!authorization || !authorization.startsWith('Bearer ')) return null;
  const payload = authorization.slice('Bearer '.length).split('.')[1];
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')).sub;
}

function userObject(id) {
  const user = users.get(id);
  return user ? { id: globalId('User', id), name: user.name } : null;
}

function page(viewer, first, after) {
  const user = users.get(viewer);
  if (!user) throw new Error('sign in first');
  const limit = first ?? DEFAULT_PAGE_SIZE;
  let start = 0;
  if (after != null) {
    const [, , , millis, id] = JSON.parse(Buffer.from(after, 'base64url').toString('utf8'));
    start = user.tasks.findIndex((t) => t.created_ms < millis || (t.created_ms === millis && t.id < id));
    if (start < 0) start = user.tasks.length;
  }
  const slice = user.tasks.slice(start, start + limit);
  const edges = slice.map((task) => ({
    cursor: encodeCursor(task),
    node: { id: globalId('Task', viewer, task.id), title: task.title, status: task.status, ownerId: viewer },
  }));
  return {
    edges,
    pageInfo: {
      hasNextPage: start + limit < user.tasks.length,
      endCursor: edges.length ? edges[edges.length - 1].cursor : null,
    },
  };
}

export const resolvers = {
  Query: {
    me: (_root, _args, context) => (context.viewer ? userObject(context.viewer) : null),
    tasks: (_root, args, context) => page(context.viewer, args.first, args.after),
  },
  Task: {
    // One lookup per task, as a resolver per field is usually written (memory: no N+1 cost).
    owner: (task) => userObject(task.ownerId),
  },
};
