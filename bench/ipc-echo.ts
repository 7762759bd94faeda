// The far end of the bare child_process IPC ping-pong: send every message straight back.
process.on("message", (message) => process.send?.(message));
