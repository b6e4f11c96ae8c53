import { ConfigError } from '../../../config.js';
import { isKnownZone } from './date-time.js';

/**
 * FERRY_HL7_TIMEZONE: the IANA zone (e.g. Europe/Berlin) of HL7 date/times that carry no offset
 * when MSH-7 carries none either; UTC when unset. Read here until the configuration module
 * takes it over; the composition root passes the environment in.
 */
export function hl7Timezone(env: Readonly<Record<string, string | undefined>>): string {
  const zone = env.FERRY_HL7_TIMEZONE?.trim();
  if (!zone) return 'UTC';
  if (!isKnownZone(zone))
    throw new ConfigError('FERRY_HL7_TIMEZONE', `'${zone}' is not an IANA time zone such as Europe/Berlin`);
  return zone;
}
