import uWS from 'uWebSockets.js';

/**
 * The exclusive-port listen of this uWS build (no SO_REUSEPORT: the bind fails if any socket
 * holds the port), which its type definitions do not declare.
 */
const LIBUS_LISTEN_EXCLUSIVE_PORT = (uWS as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT;
interface ExclusiveListen {
  listen(host: string, port: number, options: number, cb: (socket: uWS.us_listen_socket | false) => void): unknown;
}

/** A uWS app bound to one address, with the two ways to let go of it. */
export class UwsListener {
  private socket: uWS.us_listen_socket | undefined;
  private boundPort = 0;

  constructor(private readonly app: uWS.TemplatedApp) {}

  get port(): number {
    return this.boundPort;
  }

  /**
   * Binds `host:port`. Exclusive by default: uWS otherwise sets SO_REUSEPORT, and a second
   * gateway started on the same port would "listen" too while the kernel split connections
   * between the two. `shared`: SO_REUSEPORT, only for this process's data-plane workers,
   * which all bind the one RPC port (the pool checks first that nobody else holds it).
   */
  listen(host: string, port: number, shared = false): Promise<number> {
    return new Promise((resolve, reject) => {
      const onListen = (socket: uWS.us_listen_socket | false) => {
        if (socket === false) {
          reject(new Error(`cannot listen on ${host}:${port}: address in use (or not permitted)`));
          return;
        }
        this.socket = socket;
        this.boundPort = uWS.us_socket_local_port(socket);
        resolve(this.boundPort);
      };
      if (shared) this.app.listen(host, port, onListen);
      else (this.app as unknown as ExclusiveListen).listen(host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, onListen);
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
