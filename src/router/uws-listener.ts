import uWS from 'uWebSockets.js';

/** A uWS app bound to one address, with the two ways to let go of it. */
export class UwsListener {
  private socket: uWS.us_listen_socket | undefined;
  private boundPort = 0;

  constructor(private readonly app: uWS.TemplatedApp) {}

  get port(): number {
    return this.boundPort;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (socket === false) {
          reject(new Error(`cannot listen on ${host}:${port} (in use or not permitted)`));
          return;
        }
        this.socket = socket;
        this.boundPort = uWS.us_socket_local_port(socket);
        resolve(this.boundPort);
      });
    });
  }

  /** Stops accepting connections; open ones keep being served. Node aborts at exit if a listen socket is left open. */
  stopAccepting(): void {
    if (this.socket !== undefined) uWS.us_listen_socket_close(this.socket);
    this.socket = undefined;
  }

  /** Closes every connection, HTTP and WebSocket. `close` exists in this uWS build but not in its type definitions. */
  close(): void {
    this.stopAccepting();
    (this.app as uWS.TemplatedApp & { close(): void }).close();
  }
}
