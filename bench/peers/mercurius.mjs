// Mercurius on Fastify, with graphql-jit compiling a query after its first run (jit: 1), over
// the data in memory (shared.mjs). Mercurius caches parsed and validated documents by default.
import Fastify from 'fastify';
import mercurius from 'mercurius';
import { host, port, resolvers, typeDefs, viewerOf } from './shared.mjs';

const app = Fastify({ logger: false });
app.register(mercurius, {
  schema: typeDefs,
  resolvers,
  jit: 1,
  graphiql: false,
  context: (request) => ({ viewer: viewerOf(request.headers.authorization) }),
});
app.get('/healthz', async () => 'ok');

await app.listen({ host, port });
console.log(`mercurius on http://${host}:${port}/graphql`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
