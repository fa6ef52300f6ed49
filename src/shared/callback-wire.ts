/** How a main-thread callback travels to a worker: a MessagePort, marked so the worker wraps it. */
import type { MessagePort } from 'node:worker_threads';

export const CALLBACK_WIRE_KEY = '__triodeWorkerCallback';

export interface CallbackWire {
  readonly [CALLBACK_WIRE_KEY]: true;
  readonly port: MessagePort;
}

export function isCallbackWire(value: unknown): value is CallbackWire {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)[CALLBACK_WIRE_KEY] === true;
}
