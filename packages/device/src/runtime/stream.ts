/**
 * Streams and events on the modelled timeline. A stream is an in-order queue: each operation starts when the stream's
 * previous one has finished, the engine it needs is free, and the host has issued it. Events mark a point in a
 * stream; their timestamps are modelled, so `elapsedTime` reports what the hardware would take, never wall time.
 */
import { TesseraError } from '../errors';
import { checkInstance } from '../validate';

/** What streams and events need from their device (kept as an interface to avoid an import cycle). */
export interface TimelineOwner {
  readonly label: string;
  readonly ordinal: number;
  readonly defaultStream: Stream;
  /** The runtime the device belongs to: streams, events and buffers of different runtimes never mix. */
  readonly runtime: object;
  /** Modelled host clock (ms) of the runtime the device belongs to. */
  hostTime(): number;
  /** Advances the modelled host clock to at least `ms` (the host waited for the device). */
  waitHost(ms: number): void;
  assertUsable(op: string): void;
}

let nextStreamId = 1;

export class Stream {
  /** Modelled time (ms) at which all work queued so far on this stream is done. */
  timeMs = 0;
  destroyed = false;

  constructor(
    readonly device: TimelineOwner,
    /** 0 for the default stream. */
    readonly id: number = nextStreamId++,
  ) {}

  /** @internal */
  assertUsable(op: string, device: TimelineOwner): void {
    if (this.destroyed) {
      throw new TesseraError(
        'InvalidResourceHandle',
        `${op}: stream ${this.id} on ${this.device.label} was destroyed.`,
        {
          hint: 'Create a new stream with device.createStream().',
        },
      );
    }
    if (this.device !== device) {
      throw new TesseraError(
        'InvalidResourceHandle',
        `${op}: stream ${this.id} belongs to ${this.device.label}, not ${device.label}.`,
        { hint: "Use a stream created on the same device (each device's work goes to its own streams)." },
      );
    }
  }

  /** Blocks the (modelled) host until everything queued on this stream is done: `cudaStreamSynchronize`. */
  synchronize(): void {
    this.assertUsable('stream.synchronize', this.device);
    this.device.assertUsable('stream.synchronize');
    this.device.waitHost(this.timeMs);
  }

  /** True if all queued work has completed by the host's current modelled time: `cudaStreamQuery`. */
  query(): boolean {
    this.assertUsable('stream.query', this.device);
    return this.timeMs <= this.device.hostTime();
  }

  /** Makes later work on this stream wait for `event`, which may belong to another device: `cudaStreamWaitEvent`. */
  waitEvent(event: Event): void {
    this.assertUsable('stream.waitEvent', this.device);
    checkInstance('stream.waitEvent', 'event', event, Event, 'an Event from device.createEvent()');
    if (event.device.runtime !== this.device.runtime) {
      throw new TesseraError(
        'InvalidResourceHandle',
        `stream.waitEvent: the event belongs to ${event.device.label} of another runtime than stream ${this.id}.`,
        { hint: 'Events order work within one runtime; record an event on a stream of this runtime.' },
      );
    }
    if (!event.recorded) {
      throw new TesseraError('InvalidResourceHandle', 'stream.waitEvent: the event was never recorded.', {
        hint: 'Call event.record(stream) on the producing stream first.',
      });
    }
    this.timeMs = Math.max(this.timeMs, event.timeMs);
  }

  destroy(): void {
    if (this.id === 0) throw new TesseraError('InvalidValue', 'The default stream cannot be destroyed.');
    this.destroyed = true;
  }
}

export class Event {
  recorded = false;
  /** Modelled completion time (ms) of the work before the record point. */
  timeMs = 0;
  private recordedOn: TimelineOwner | null = null;

  constructor(
    readonly device: TimelineOwner,
    /** False for events created with `{ timing: false }`, which cannot measure time (as `cudaEventDisableTiming`). */
    readonly timing = true,
  ) {}

  /**
   * Captures the point after all work currently queued on `stream` (default: the device's default stream):
   * `cudaEventRecord`.
   */
  record(stream?: Stream): void {
    if (stream === undefined) stream = this.device.defaultStream;
    checkInstance(
      'event.record',
      'stream',
      stream,
      Stream,
      'a Stream (device.createStream() or device.defaultStream)',
      'Omit it to record on the default stream.',
    );
    stream.assertUsable('event.record', stream.device);
    if (stream.device !== this.device) {
      throw new TesseraError(
        'InvalidResourceHandle',
        `event.record: the event belongs to ${this.device.label}, the stream to ${stream.device.label}.`,
      );
    }
    this.recorded = true;
    this.timeMs = Math.max(stream.timeMs, this.device.hostTime());
    this.recordedOn = stream.device;
  }

  /** True once the recorded work has completed (by modelled host time): `cudaEventQuery`. */
  query(): boolean {
    if (!this.recorded) return true; // CUDA: an event never recorded counts as complete
    return this.timeMs <= (this.recordedOn ?? this.device).hostTime();
  }

  /** Blocks the modelled host until the event completes: `cudaEventSynchronize`. */
  synchronize(): void {
    if (this.recorded) this.device.waitHost(this.timeMs);
  }

  /**
   * Modelled milliseconds from `this` to `end` (`cudaEventElapsedTime(&ms, start, end)`). Both events must be recorded
   * and complete; otherwise `InvalidResourceHandle` / `NotReady`, as in CUDA.
   */
  elapsedTime(end: Event): number {
    return Event.elapsed(this, end);
  }

  static elapsed(start: Event, end: Event): number {
    checkInstance('elapsedTime', 'start', start, Event, 'an Event from device.createEvent()');
    checkInstance('elapsedTime', 'end', end, Event, 'an Event from device.createEvent()');
    if (start.device.runtime !== end.device.runtime) {
      throw new TesseraError('InvalidResourceHandle', 'elapsedTime: the events belong to different runtimes.', {
        hint: 'Each runtime has its own modelled clock; measure between events of one runtime.',
      });
    }
    if (!start.timing || !end.timing) {
      throw new TesseraError('InvalidResourceHandle', 'elapsedTime: an event was created with timing disabled.', {
        hint: 'Create both events with device.createEvent() (timing is on by default).',
      });
    }
    if (!start.recorded || !end.recorded) {
      throw new TesseraError(
        'InvalidResourceHandle',
        `elapsedTime: the ${start.recorded ? 'end' : 'start'} event was never recorded.`,
        {
          hint: 'Record both events on a stream before asking for the time between them.',
        },
      );
    }
    if (!start.query() || !end.query()) {
      throw new TesseraError('NotReady', 'elapsedTime: the recorded work has not completed yet.', {
        hint: 'Call end.synchronize() (or stream/device synchronize) first.',
      });
    }
    return end.timeMs - start.timeMs;
  }
}
