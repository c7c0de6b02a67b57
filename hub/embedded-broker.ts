// The hub's embedded MQTT broker (aedes, MQTT 3.1.1): the zero-setup default for demos and small labs.
// Production fleets point the hub at their own broker (Mosquitto, EMQX…) with TLS and ACLs instead.

import net from 'node:net';
import { Aedes } from 'aedes';

export interface EmbeddedBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts aedes on host:port (port 0 = any free port). Rejects when the port is taken, saying so. */
export async function startEmbeddedBroker(host: string, port: number): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  const server = net.createServer(aedes.handle);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      // aedes runs a heartbeat timer from creation: close it, or a hub that failed to start never exits
      aedes.close(() => reject(new Error(e.code === 'EADDRINUSE' ? `port ${port} on ${host} is in use (another broker?); use --mqtt-listen HOST:PORT or --broker URL` : e.message)));
    });
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://${host === '0.0.0.0' ? '127.0.0.1' : host}:${actual}`,
    port: actual,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
