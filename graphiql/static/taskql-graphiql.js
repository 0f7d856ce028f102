// taskql's GraphiQL page (our code; React, ReactDOM, GraphiQL and its explorer plugin are the
// pinned npm files loaded before it). It runs every operation against this server: queries and
// mutations over HTTP POST with the headers from GraphiQL's headers editor, subscriptions over
// graphql-transport-ws, whose connection_init payload carries the Authorization header, since
// a browser cannot set headers on a websocket handshake.
(function () {
  "use strict";

  var WELCOME = [
    "# taskql's GraphiQL. Run with Ctrl-Enter or the play button.",
    "#",
    "# To sign in, run the register (or login) mutation, then",
    "# put its accessToken in the Headers tab below:",
    '#   {"Authorization": "Bearer <accessToken from login>"}',
    "# It goes with every query and mutation, and with the",
    "# websocket of every subscription.",
    "",
    "query Me {",
    "  me {",
    "    id",
    "    email",
    "    name",
    "  }",
    "}",
    "",
  ].join("\n");

  function readConfig() {
    var element = document.getElementById("taskql-graphiql-config");
    return JSON.parse(element.textContent);
  }

  function websocketUrl(httpUrl) {
    var url = new URL(httpUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = "";
    url.hash = "";
    return url.href;
  }

  // Header names are case-insensitive; the server reads connection_init's "Authorization".
  function authorizationOf(headers) {
    var names = Object.keys(headers || {});
    for (var i = 0; i < names.length; i += 1) {
      var value = headers[names[i]];
      if (names[i].toLowerCase() === "authorization" && typeof value === "string" && value) {
        return value;
      }
    }
    return null;
  }

  function createFetcher(endpoint) {
    var url = new URL(endpoint, window.location.href).href;
    var subscriptionUrl = websocketUrl(url);
    return function fetcher(params, options) {
      var headers = (options && options.headers) || {};
      var authorization = authorizationOf(headers);
      // A fresh toolkit fetcher per operation, so a subscription's websocket client is made with
      // the Authorization header as the editor holds it now. The editor's headers go to HTTP as
      // options.headers, and are taken out of the per-call options: the toolkit would otherwise
      // copy every one of them into connection_init, where only Authorization belongs.
      var toolkitFetcher = GraphiQL.createFetcher({
        url: url,
        subscriptionUrl: subscriptionUrl,
        headers: Object.assign(
          { accept: "application/graphql-response+json, application/json" },
          headers
        ),
        wsConnectionParams: authorization ? { Authorization: authorization } : {},
        // We serve no incremental delivery (@defer/@stream): plain JSON requests suffice.
        enableIncrementalDelivery: false,
      });
      return toolkitFetcher(params, Object.assign({}, options, { headers: {} }));
    };
  }

  // Keeps the address bar's ?query=, ?variables=, ?operationName= in step with the editors,
  // so a copied URL opens the same operation (it only pre-fills; nothing runs on load).
  function remember(name) {
    return function (value) {
      var url = new URL(window.location.href);
      if (value) {
        url.searchParams.set(name, value);
      } else {
        url.searchParams.delete(name);
      }
      window.history.replaceState(null, "", url.href);
    };
  }

  var config = readConfig();
  var props = {
    fetcher: createFetcher(config.endpoint),
    defaultQuery: WELCOME,
    defaultEditorToolsVisibility: true,
    isHeadersEditorEnabled: true,
    // A bearer token in localStorage would outlive the tab; the user pastes it again instead.
    shouldPersistHeaders: false,
    inputValueDeprecation: true,
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    onEditQuery: remember("query"),
    onEditVariables: remember("variables"),
    onEditOperationName: remember("operationName"),
  };
  if (config.query) {
    props.query = config.query;
  }
  if (config.variables) {
    props.variables = config.variables;
  }
  if (config.operationName) {
    props.operationName = config.operationName;
  }
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
})();
