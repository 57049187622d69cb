// Feature panels of the viewer page. Each panel module subscribes to its own events.
// (Filled in as the room features land on the server.)

export function mountPanels(ctx) {
  return ctx;
}
