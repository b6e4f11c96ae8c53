/** Rows for the CSV bench, in the layout of the shipped mappings (deterministic by row number). */

export const patientHeader =
  'mrn,family_name,given_names,birth_date,sex,phone,email,address_line,city,postal_code,country,deceased';

export const patientRow = (i: number): string =>
  `B${i},Family${i % 997},Given ${i % 89},19${50 + (i % 50)}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')},` +
  `${i % 2 ? 'F' : 'M'},+1 555 ${String(i % 10000).padStart(4, '0')},p${i}@example.org,${i % 900} Main St,Springfield,${10000 + (i % 900)},US,no`;

export const labHeader =
  'mrn,family_name,given_names,birth_date,sex,accession,loinc,test_name,value,unit,ref_low,ref_high,flag,status,collected_at,resulted_at';

const tests: [string, string, string, number, number][] = [
  ['2345-7', 'Glucose', 'mg/dL', 70, 99],
  ['2823-3', 'Potassium', 'mmol/L', 3.5, 5.1],
  ['718-7', 'Hemoglobin', 'g/dL', 12, 16],
  ['2160-0', 'Creatinine', 'mg/dL', 0.7, 1.3],
  ['6690-2', 'Leukocytes', 'K/uL', 4, 11],
];

/** Five results per accession, ten accessions per patient. */
export const labRow = (i: number): string => {
  const [loinc, name, unit, low, high] = tests[i % 5]!;
  const accession = Math.floor(i / 5);
  const patient = Math.floor(accession / 10);
  const value = (low + (((i * 7) % 100) / 100) * (high - low) * 1.2).toFixed(1);
  return (
    `L${patient},Family${patient % 997},Given,19${50 + (patient % 50)}-01-15,${patient % 2 ? 'F' : 'M'},` +
    `A${accession},${loinc},${name},${value},${unit},${low},${high},${Number(value) > high ? 'H' : 'N'},F,` +
    `2026-11-${String(1 + (accession % 28)).padStart(2, '0')} 08:15,2026-11-${String(1 + (accession % 28)).padStart(2, '0')} 10:02:00`
  );
};
