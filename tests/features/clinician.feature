Feature: A clinician reviews the AI's pain assessment and the EMR follows
  The AI's result stays preliminary until a clinician confirms it (final) or overrides it (amended).
  The review goes to every destination as a new version of the same Observation: the EMR's FHIR
  server gets the clinician's value with the AI's original beside it and a Provenance naming the
  clinician; the telehealth platform's webhook says what changed; model monitoring counts it.

  Background:
    Given the EMR's FHIR server and the platform's webhook receiver are the gateway's destinations
    And the AI has scored a real 5-second face clip of patient "MRN-1234" and the EMR holds its preliminary Observation

  Scenario: A clinician confirms the AI's level
    When the clinician confirms the assessment
    Then the assessment is completed and clinically "final" at version 2
    And the EMR's Observation becomes "final" at a new version with the AI's level, verified by the clinician

  Scenario: A clinician overrides the AI's level and both values stay traceable
    When the clinician overrides the level because of the patient's report
    Then the assessment is completed and clinically "amended" at version 2
    And the EMR's Observation becomes "amended" with the clinician's level and the AI's level beside it
    And the EMR holds a Provenance naming the clinician as author and the AI version as revised
    And the gateway's FHIR history shows the AI's version and the clinician's
    And the platform's webhook says "assessment.reviewed" with both levels
    And model monitoring shows the override for the model version

  Scenario: A first visit says it had no baseline, and the patient's own neutral face makes the next one personal
    Then the assessment says it was scored without a neutral baseline, quoting the model's measured reliability for that case
    And the EMR's preliminary Observation notes that it was scored without a neutral baseline
    When the clinician records the clip as the patient's neutral face and the clip is scored again
    Then the new assessment is scored against the patient's neutral face and none of its seconds is flagged unfamiliar
