/**
 * The baseline: a bare `ws` server answering the same frames the phones send with the same
 * replies, and nothing else — no processes, no validation, no CDRs. The load client drives
 * it exactly as it drives a node; the ratio of the two is what Hotline's layers cost.
 */
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as {
      type: string;
      user?: string;
      callId?: string;
      seq?: number;
      sentAt?: number;
    };
    switch (m.type) {
      case 'register':
        ws.send(JSON.stringify({ type: 'registered', user: m.user, node: 'bare', release: 'bare' }));
        break;
      case 'invite':
        for (const type of ['trying', 'ringing', 'answered'])
          ws.send(JSON.stringify({ type, callId: m.callId }));
        break;
      case 'media':
        ws.send(JSON.stringify({ type: 'media_ack', callId: m.callId, seq: m.seq, sentAt: m.sentAt }));
        ws.send(JSON.stringify({ type: 'media', callId: m.callId, seq: m.seq, sentAt: m.sentAt }));
        break;
    }
  });
});
wss.on('listening', () => {
  const { port } = wss.address() as { port: number };
  console.log(JSON.stringify({ calls: `ws://127.0.0.1:${port}/calls`, http: `http://127.0.0.1:${port}` }));
});
