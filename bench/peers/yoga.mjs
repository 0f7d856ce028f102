// GraphQL Yoga on node:http, over the data in memory (shared.mjs). Yoga caches parsed and
// validated documents by default; GraphiQL and the landing page are off.
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';
import { host, port, resolvers, typeDefs, viewerOf } from './shared.mjs';

const yoga = createYoga({
  schema: createSchema({ typeDefs, resolvers }),
  graphqlEndpoint: '/graphql',
  healthCheckEndpoint: '/healthz',
  graphiql: false,
  landingPage: false,
  logging: false,
  context: ({ request }) => ({ viewer: viewerOf(request.headers.get('authorization')) }),
});

const server = createServer(yoga);
server.listen(port, host, () => console.log(`yoga on http://${host}:${port}/graphql`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
