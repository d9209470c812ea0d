Feature: An EMR integrator receives FHIR pain Observations
  An integration engine (or a bedside edge device that already ran MediaPipe) sends facial keypoints
  for a patient and files the resulting AI pain Observation in the EMR, where clinicians review it.

  Background:
    Given the gateway is running with the bundled synthetic-data model
    And an integrator holds a valid token

  Scenario: Keypoints of a 5-second clip become a searchable, AI-asserted Observation
    Given MediaPipe keypoints of a real 5-second face clip for patient "MRN-1234" of system "urn:oid:1.2.36.146.595.217.0.1"
    When the integrator submits the keypoints
    Then the gateway answers 201 with the assessment's location
    And the assessment has a pain level for each of the 5 one-second windows
    And the FHIR Bundle holds an Observation, a Device, a Provenance and the explanation DocumentReference
    And the Observation is preliminary and labelled AI-asserted
    And the Device names the model version and says it was trained on synthetic data
    And every resource passes the gateway's FHIR validation
    And a search on the patient identifier finds the Observation

  Scenario: A retried submission does not create a second Observation
    Given MediaPipe keypoints of a real 5-second face clip for patient "MRN-1234" of system "urn:oid:1.2.36.146.595.217.0.1"
    When the integrator submits the keypoints
    And the integrator submits the keypoints again
    Then the second answer is 200 with the same assessment
    And a search on the patient identifier finds exactly 1 Observation

  Scenario Outline: Bad keypoints are refused with the field to fix, and nothing is stored
    Given MediaPipe keypoints of a real 5-second face clip for patient "MRN-9" of system "urn:example:mrn"
    And the submission has <problem>
    When the integrator submits the keypoints
    Then the gateway answers 422 naming the field "<field>"
    And a search on the patient identifier finds exactly 0 Observation

    Examples:
      | problem                      | field   |
      | 467 landmarks per frame      | frames  |
      | a NaN coordinate             | frames  |
      | only 20 frames with a face   | frames  |
      | 200 frames per second        | fps     |
      | a patient given by name only | patient.name |
