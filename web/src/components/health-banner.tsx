import { clock } from '../logic/format.js';
import type { SystemHealth } from '../types.js';

const GOOD_PUBLISHER = new Set(['healthy', 'ok']);

/** Shown when `systemHealth` says the pipeline is degraded or down, or the publisher reports trouble. */
export function HealthBanner({ health, now }: { health: SystemHealth | null; now: number }) {
  if (!health) return null;
  const { pipeline, publisher } = health;
  const pipelineBad = pipeline.status !== 'ok';
  const publisherBad = publisher !== null && !GOOD_PUBLISHER.has(publisher.status.toLowerCase());
  if (!pipelineBad && !publisherBad) return null;
  const severe = pipeline.status === 'down' || (publisherBad && /down|error|fail|critical/i.test(publisher.status));
  return (
    <div class={`banner ${severe ? 'banner-down' : 'banner-degraded'}`} role="alert" data-testid="health-banner">
      {pipelineBad && (
        <span>
          <strong>Pipeline {pipeline.status}</strong>
          {pipeline.reasons.length > 0 && `: ${pipeline.reasons.join('; ')}`}
        </span>
      )}
      {publisherBad && (
        <span>
          <strong>Detection engine {publisher.status}</strong>
          {publisher.source && ` (${publisher.source})`}, reported {clock(Date.parse(publisher.at), now)}
        </span>
      )}
    </div>
  );
}
