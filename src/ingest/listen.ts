import type { AddressInfo, Server } from "node:net";

/** Binds a server; a bind error (EADDRINUSE, EACCES) rejects instead of surfacing as an 'error' event. */
export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
