// Host console panels for the room features. Filled in as the features land on the server.

export function mountHostPanels(ctx) {
  return ctx;
}
