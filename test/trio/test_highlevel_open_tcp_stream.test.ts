/**
 * Trio's `_tests/test_highlevel_open_tcp_stream.py`, translated case by case (names kept). Trio
 * drives `open_tcp_stream` with a fake resolver and socket factory; triode's Happy Eyeballs is
 * `lowlevel.happyEyeballs(targets, attempt, delayMs)`, so each scenario is a list of targets and
 * an `attempt` that, on the MockClock, takes the scenario's time and then connects or fails.
 * Seconds become ms.
 *
 * Not carried over, and why:
 * - test_close_all, test_format_host_port: private helpers of Trio's.
 * - test_reorder_for_rfc_6555_section_5_4, test_does_reorder, test_handles_no_ipv4/ipv6: triode
 *   interleaves address families fully (RFC 8305 §4) inside `openTcpStream` where Trio moves one
 *   address (RFC 6555 §5.4); the interleaving is tested in test/main/streams/net.test.ts.
 * - test_open_tcp_stream_real_socket_smoketest, test_open_tcp_stream_input_validation,
 *   test_local_address_real: real-socket cases, covered in test/main/streams/net.test.ts.
 * - test_one_host_failed_after_connect: Trio's fake raises KeyboardInterrupt from a connected
 *   socket; here the equivalent is an attempt that throws after its delay, which is
 *   test_one_host_quick_fail.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { currentTime, ExceptionGroup, lowlevel, moveOnAfter, sleep } from 'triode';
import { mock, rejection } from '../helpers.js';

type Result = 'success' | 'error';
interface FakeConnection {
  ip: string;
  closed: boolean;
  aclose(): Promise<void>;
}

/** Runs Happy Eyeballs over `ips` ([ip, ms to answer, result]); returns the winner or the error, and the scenario's record. */
async function runScenario(ips: Array<[string, number, Result]>, delayMs = 250) {
  const connectTimes: Record<string, number> = {};
  const connections: FakeConnection[] = [];
  const start = currentTime();
  const attempt = async ([ip, ms, result]: [string, number, Result]): Promise<FakeConnection> => {
    connectTimes[ip] = currentTime() - start;
    await sleep(ms);
    if (result === 'error') throw Object.assign(new Error('sorry'), { code: 'ECONNREFUSED' });
    const connection: FakeConnection = { ip, closed: false, aclose: async () => { connection.closed = true; } };
    connections.push(connection);
    return connection;
  };
  let outcome: FakeConnection | unknown;
  try {
    outcome = await lowlevel.happyEyeballs(ips, attempt, delayMs, 'all attempts to connect to test.example.com:80 failed');
  } catch (error) {
    outcome = error;
  }
  // Every connection but the winner was closed.
  for (const connection of connections) if (connection !== outcome) assert.ok(connection.closed, `${connection.ip} was closed`);
  return { outcome, connectTimes, elapsed: currentTime() - start };
}

const winner = (outcome: unknown) => (outcome as FakeConnection).ip;

test('test_one_host_quick_success', mock(async () => {
  const { outcome, elapsed } = await runScenario([['1.2.3.4', 123, 'success']]);
  assert.is(winner(outcome), '1.2.3.4');
  assert.is(elapsed, 123);
}));

test('test_one_host_slow_success', mock(async () => {
  const { outcome, elapsed } = await runScenario([['1.2.3.4', 100_000, 'success']]);
  assert.is(winner(outcome), '1.2.3.4');
  assert.is(elapsed, 100_000);
}));

test('test_one_host_quick_fail', mock(async () => {
  const { outcome, elapsed } = await runScenario([['1.2.3.4', 123, 'error']]);
  assert.instance(outcome, Error);
  assert.is(elapsed, 123);
}));

test('test_one_host_slow_fail', mock(async () => {
  const { outcome, elapsed } = await runScenario([['1.2.3.4', 100_000, 'error']]);
  assert.instance(outcome, Error);
  assert.is(elapsed, 100_000);
}));

test('test_basic_fallthrough', mock(async () => {
  const { outcome, connectTimes, elapsed } = await runScenario([['1.1.1.1', 1000, 'success'], ['2.2.2.2', 1000, 'success'], ['3.3.3.3', 200, 'success']]);
  assert.is(winner(outcome), '3.3.3.3');
  assert.is(elapsed, 250 + 250 + 200);
  assert.equal(connectTimes, { '1.1.1.1': 0, '2.2.2.2': 250, '3.3.3.3': 500 });
}));

test('test_early_success', mock(async () => {
  const { outcome, connectTimes, elapsed } = await runScenario([['1.1.1.1', 1000, 'success'], ['2.2.2.2', 100, 'success'], ['3.3.3.3', 200, 'success']]);
  assert.is(winner(outcome), '2.2.2.2');
  assert.is(elapsed, 250 + 100);
  assert.equal(connectTimes, { '1.1.1.1': 0, '2.2.2.2': 250 });
}));

test('test_custom_delay', mock(async () => {
  const { outcome, connectTimes, elapsed } = await runScenario([['1.1.1.1', 1000, 'success'], ['2.2.2.2', 1000, 'success'], ['3.3.3.3', 200, 'success']], 450);
  assert.is(winner(outcome), '1.1.1.1');
  assert.is(elapsed, 1000);
  assert.equal(connectTimes, { '1.1.1.1': 0, '2.2.2.2': 450, '3.3.3.3': 900 });
}));

test('test_custom_errors_expedite', mock(async () => {
  const { outcome, connectTimes, elapsed } = await runScenario([
    ['1.1.1.1', 100, 'error'],
    ['2.2.2.2', 200, 'error'],
    ['3.3.3.3', 10_000, 'success'],
    ['4.4.4.4', 250, 'success'],
  ]);
  assert.is(winner(outcome), '4.4.4.4');
  assert.is(elapsed, 100 + 200 + 250 + 250);
  assert.equal(connectTimes, { '1.1.1.1': 0, '2.2.2.2': 100, '3.3.3.3': 300, '4.4.4.4': 550 });
}));

test('test_all_fail', mock(async () => {
  const { outcome, connectTimes, elapsed } = await runScenario([
    ['1.1.1.1', 100, 'error'],
    ['2.2.2.2', 200, 'error'],
    ['3.3.3.3', 10_000, 'error'],
    ['4.4.4.4', 250, 'error'],
  ]);
  assert.instance(outcome, AggregateError);
  assert.is((outcome as AggregateError).message, 'all attempts to connect to test.example.com:80 failed');
  assert.equal((outcome as AggregateError).errors.map((e: Error) => e.message), ['sorry', 'sorry', 'sorry', 'sorry']);
  assert.is(elapsed, 100 + 200 + 10_000);
  assert.equal(connectTimes, { '1.1.1.1': 0, '2.2.2.2': 100, '3.3.3.3': 300, '4.4.4.4': 550 });
}));

test('test_multi_success', mock(async () => {
  const { outcome, connectTimes, elapsed } = await runScenario(
    [
      ['1.1.1.1', 500, 'error'],
      ['2.2.2.2', 10_000, 'success'],
      ['3.3.3.3', 10_000 - 1000, 'success'],
      ['4.4.4.4', 10_000 - 2000, 'success'],
      ['5.5.5.5', 500, 'error'],
    ],
    1000,
  );
  // Three attempts finish at the same virtual instant; any of them may win, the others are closed.
  assert.ok(['2.2.2.2', '3.3.3.3', '4.4.4.4'].includes(winner(outcome)));
  assert.is(elapsed, 500 + 10_000);
  assert.equal(connectTimes, { '1.1.1.1': 0, '2.2.2.2': 500, '3.3.3.3': 1500, '4.4.4.4': 2500, '5.5.5.5': 3500 });
}));

test('test_no_hosts', mock(async () => {
  const error = await rejection(lowlevel.happyEyeballs([], async () => ({ aclose: async () => {} })));
  assert.instance(error, TypeError);
}));

test('test_cancel', mock(async () => {
  let record: Awaited<ReturnType<typeof runScenario>> | undefined;
  const start = currentTime();
  const value = await moveOnAfter(5000, async () => {
    record = await runScenario([['1.1.1.1', 10_000, 'success'], ['2.2.2.2', 10_000, 'success'], ['3.3.3.3', 10_000, 'success'], ['4.4.4.4', 10_000, 'success']]);
    // The cancellation comes out of happyEyeballs (in a group: the attempts were cancelled).
    throw record.outcome;
  });
  assert.is(value, undefined);
  assert.is(currentTime() - start, 5000);
  // What happyEyeballs raised was the cancellation (the scope absorbed it), and nothing connected.
  assert.ok(record!.outcome instanceof ExceptionGroup || (record!.outcome as Error).name === 'Cancelled');
}));

test.run();
