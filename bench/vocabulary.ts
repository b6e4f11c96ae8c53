/**
 * Code tables the generator draws from: real LOINC lab and vital-sign codes with UCUM units and
 * adult reference ranges, SNOMED CT problems, and names and places for demographics.
 */

export const system = {
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct',
  ucum: 'http://unitsofmeasure.org',
  observationCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  interpretation: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
  conditionClinical: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  conditionVerification: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  participationType: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  organizationType: 'http://terminology.hl7.org/CodeSystem/organization-type',
  identifierType: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  npi: 'http://hl7.org/fhir/sid/us-npi',
  mrn: 'http://hospital.example.org/mrn',
  visit: 'http://hospital.example.org/visit',
  accession: 'http://lab.example.org/accession',
} as const;

/** A quantitative test: its LOINC code, UCUM unit and the distribution results are drawn from. */
export interface Test {
  code: string;
  display: string;
  /** UCUM code, also used as the human unit. */
  unit: string;
  mean: number;
  sd: number;
  decimals: number;
  /** Adult reference range (either end may be open). */
  low?: number;
  high?: number;
}

/** Chemistry, haematology, lipids and endocrinology: what a hospital lab feed mostly carries. */
// prettier-ignore
export const labTests: readonly Test[] = [
  { code: '2345-7', display: 'Glucose [Mass/volume] in Serum or Plasma', unit: 'mg/dL', mean: 98, sd: 18, decimals: 0, low: 70, high: 99 },
  { code: '3094-0', display: 'Urea nitrogen [Mass/volume] in Serum or Plasma', unit: 'mg/dL', mean: 14, sd: 5, decimals: 0, low: 7, high: 20 },
  { code: '2160-0', display: 'Creatinine [Mass/volume] in Serum or Plasma', unit: 'mg/dL', mean: 0.95, sd: 0.25, decimals: 2, low: 0.6, high: 1.3 },
  { code: '2951-2', display: 'Sodium [Moles/volume] in Serum or Plasma', unit: 'mmol/L', mean: 140, sd: 3, decimals: 0, low: 136, high: 145 },
  { code: '2823-3', display: 'Potassium [Moles/volume] in Serum or Plasma', unit: 'mmol/L', mean: 4.3, sd: 0.5, decimals: 1, low: 3.5, high: 5.1 },
  { code: '2075-0', display: 'Chloride [Moles/volume] in Serum or Plasma', unit: 'mmol/L', mean: 102, sd: 3, decimals: 0, low: 98, high: 107 },
  { code: '2028-9', display: 'Carbon dioxide, total [Moles/volume] in Serum or Plasma', unit: 'mmol/L', mean: 25, sd: 2.5, decimals: 0, low: 22, high: 29 },
  { code: '17861-6', display: 'Calcium [Mass/volume] in Serum or Plasma', unit: 'mg/dL', mean: 9.4, sd: 0.5, decimals: 1, low: 8.6, high: 10.3 },
  { code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood', unit: 'g/dL', mean: 14, sd: 1.6, decimals: 1, low: 12, high: 17.5 },
  { code: '4544-3', display: 'Hematocrit [Volume Fraction] of Blood by Automated count', unit: '%', mean: 42, sd: 4.5, decimals: 1, low: 36, high: 50 },
  { code: '6690-2', display: 'Leukocytes [#/volume] in Blood by Automated count', unit: '10*3/uL', mean: 7.5, sd: 2.2, decimals: 1, low: 4.5, high: 11 },
  { code: '789-8', display: 'Erythrocytes [#/volume] in Blood by Automated count', unit: '10*6/uL', mean: 4.8, sd: 0.5, decimals: 2, low: 4.2, high: 5.9 },
  { code: '777-3', display: 'Platelets [#/volume] in Blood by Automated count', unit: '10*3/uL', mean: 260, sd: 65, decimals: 0, low: 150, high: 400 },
  { code: '2093-3', display: 'Cholesterol [Mass/volume] in Serum or Plasma', unit: 'mg/dL', mean: 190, sd: 35, decimals: 0, high: 200 },
  { code: '2571-8', display: 'Triglyceride [Mass/volume] in Serum or Plasma', unit: 'mg/dL', mean: 130, sd: 50, decimals: 0, high: 150 },
  { code: '2085-9', display: 'Cholesterol in HDL [Mass/volume] in Serum or Plasma', unit: 'mg/dL', mean: 52, sd: 12, decimals: 0, low: 40 },
  { code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood', unit: '%', mean: 5.7, sd: 0.8, decimals: 1, low: 4, high: 5.6 },
  { code: '1742-6', display: 'Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma', unit: 'U/L', mean: 28, sd: 14, decimals: 0, low: 7, high: 56 },
  { code: '1920-8', display: 'Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma', unit: 'U/L', mean: 25, sd: 10, decimals: 0, low: 10, high: 40 },
  { code: '3016-3', display: 'Thyrotropin [Units/volume] in Serum or Plasma', unit: 'm[IU]/L', mean: 2, sd: 1.1, decimals: 2, low: 0.4, high: 4 },
  { code: '1988-5', display: 'C reactive protein [Mass/volume] in Serum or Plasma', unit: 'mg/L', mean: 4, sd: 4, decimals: 1, high: 10 },
];

/** Vital signs as a ward or clinic records them (category vital-signs). */
// prettier-ignore
export const vitalSigns: readonly Test[] = [
  { code: '8867-4', display: 'Heart rate', unit: '/min', mean: 76, sd: 12, decimals: 0, low: 60, high: 100 },
  { code: '9279-1', display: 'Respiratory rate', unit: '/min', mean: 16, sd: 2.5, decimals: 0, low: 12, high: 20 },
  { code: '8310-5', display: 'Body temperature', unit: 'Cel', mean: 36.8, sd: 0.4, decimals: 1, low: 36.1, high: 37.2 },
  { code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry', unit: '%', mean: 97, sd: 1.5, decimals: 0, low: 95 },
  { code: '29463-7', display: 'Body weight', unit: 'kg', mean: 78, sd: 16, decimals: 1 },
  { code: '8302-2', display: 'Body height', unit: 'cm', mean: 171, sd: 10, decimals: 0 },
];

/** The blood pressure panel and its two components (LOINC 85354-9). */
export const bloodPressure = {
  panel: { code: '85354-9', display: 'Blood pressure panel with all children optional' },
  systolic: { code: '8480-6', display: 'Systolic blood pressure', mean: 124, sd: 15 },
  diastolic: { code: '8462-4', display: 'Diastolic blood pressure', mean: 79, sd: 9 },
} as const;

/** Common problems of an adult population (SNOMED CT). */
export const conditions: readonly { code: string; display: string }[] = [
  { code: '44054006', display: 'Type 2 diabetes mellitus' },
  { code: '38341003', display: 'Hypertensive disorder, systemic arterial' },
  { code: '55822004', display: 'Hyperlipidemia' },
  { code: '195967001', display: 'Asthma' },
  { code: '13645005', display: 'Chronic obstructive lung disease' },
  { code: '49436004', display: 'Atrial fibrillation' },
  { code: '84114007', display: 'Heart failure' },
  { code: '709044004', display: 'Chronic kidney disease' },
  { code: '35489007', display: 'Depressive disorder' },
  { code: '68566005', display: 'Urinary tract infectious disease' },
  { code: '233604007', display: 'Pneumonia' },
  { code: '444814009', display: 'Viral sinusitis' },
  { code: '414545008', display: 'Ischemic heart disease' },
  { code: '69896004', display: 'Rheumatoid arthritis' },
  { code: '396275006', display: 'Osteoarthritis' },
  { code: '40930008', display: 'Hypothyroidism' },
  { code: '235595009', display: 'Gastroesophageal reflux disease' },
  { code: '37796009', display: 'Migraine' },
  { code: '10509002', display: 'Acute bronchitis' },
  { code: '414916001', display: 'Obesity' },
];

/** Encounter classes (v3 ActCode) with how often they occur. */
export const encounterClasses: readonly { code: string; display: string; weight: number }[] = [
  { code: 'AMB', display: 'ambulatory', weight: 0.75 },
  { code: 'EMER', display: 'emergency', weight: 0.15 },
  { code: 'IMP', display: 'inpatient encounter', weight: 0.1 },
];

// prettier-ignore
export const givenFemale = ['Emma', 'Olivia', 'Sofia', 'Amélie', 'Mia', 'Hannah', 'Lea', 'Zoë', 'Ingrid', 'Aisha', 'Mei', 'Lucía'];
export const givenMale = [
  'Liam',
  'Noah',
  'Lukas',
  'Mateo',
  'Jonas',
  'Elias',
  'Omar',
  'Björn',
  'Hiroshi',
  'Rafael',
  'Ivan',
  'Kwame',
];
// prettier-ignore
export const familyNames = [
  'Müller', 'Schmidt', 'Smith', 'García', 'Nguyen', 'Kowalski', 'Rossi', 'Jansen', 'Dubois', 'Okafor',
  'Andersson', 'Tanaka', 'Silva', 'Novák', "O'Brien", 'Fischer', 'Weber', 'Martin', 'Kim', 'Popescu',
];
export const streets = [
  'Hauptstraße',
  'Bahnhofstraße',
  'Gartenweg',
  'Lindenallee',
  'Schillerstraße',
  'Am Markt',
];
export const cities: readonly { city: string; postalCode: string }[] = [
  { city: 'Berlin', postalCode: '10115' },
  { city: 'Hamburg', postalCode: '20095' },
  { city: 'München', postalCode: '80331' },
  { city: 'Köln', postalCode: '50667' },
  { city: 'Leipzig', postalCode: '04109' },
  { city: 'Freiburg im Breisgau', postalCode: '79098' },
];
