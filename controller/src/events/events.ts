// Cluster events: what a user cares about, published for `berth events` and dashboards.
// Events are never authoritative: losing one loses no work (etcd holds the truth).
import { defineCodec } from '../store/codecs.js';

/**
 * Every event type, `<object>.<change>`: always two words, because the NATS subject
 * (berth.events.<object>.<change>.<namespace>.<name>) and `berth events --type` filtering rely on
 * it (a unit test checks). docs/observability.md describes each.
 */
export const EVENT_TYPES = [
  'service.applied',
  'service.deleting',
  'service.deleted',
  'task.state',
  'task.unschedulable',
  'node.state',
  'node.registered',
  'node.availability',
  'rollout.started',
  'rollout.failure',
  'rollout.paused',
  'rollout.resumed',
  'rollout.rollback',
  'rollout.completed',
  'rollout.undo',
  'rollout.restart',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export interface BerthEvent {
  type: EventType;
  namespace?: string;
  service?: string;
  node?: string;
  task?: string;
  slot?: number;
  state?: string;
  message: string;
  /** Set by the sink when absent. */
  timeMs?: number;
}

/** An event as it travels on the stream (JSON). */
export const eventCodec = defineCodec<BerthEvent>('event', {
  type: 'string',
  message: 'string',
  namespace: 'string?',
  service: 'string?',
  node: 'string?',
  task: 'string?',
  slot: 'number?',
  state: 'string?',
  timeMs: 'number?',
});

export interface EventSink {
  publish(e: BerthEvent): void;
}

export const nullSink: EventSink = { publish: () => undefined };

/** Collects events in memory (unit tests). */
export class MemorySink implements EventSink {
  readonly events: BerthEvent[] = [];
  publish(e: BerthEvent): void {
    this.events.push(e);
  }
}
