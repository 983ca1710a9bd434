/** A WebSocket upgrade the node must refuse, as the phone sees it. */
import WebSocket from 'ws';

/** An upgrade the node must refuse: its HTTP status and `{ code, message }` body. */
export function refusedUpgrade(
  url: string,
  /** `origin`: the Origin header a browser would send. */
  options: { origin?: string } = {},
): Promise<{ status: number; body: { code?: string; message?: string } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    ws.on('error', () => {
      // reported through the promise
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => {
        try {
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(text) as { code?: string; message?: string },
          });
        } catch (err) {
          reject(err);
        }
      });
    });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('close', () => reject(new Error('closed without an HTTP answer')));
  });
}
