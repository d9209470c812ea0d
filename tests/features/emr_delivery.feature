Feature: The integrator's EMR receives each AI pain Observation, once
  The gateway pushes every assessment into the EMR's FHIR server as a transaction Bundle whose
  creates are conditional on our identifiers, and keeps trying while the EMR is down.

  Background:
    Given the EMR's FHIR server is the gateway's FHIR delivery destination
    And MediaPipe keypoints of a real 5-second face clip for patient "MRN-1234" of system "urn:oid:1.2.36.146.595.217.0.1"

  Scenario: The Observation lands in the EMR's FHIR server, once
    When the integrator submits the keypoints twice
    Then the delivery ledger shows the assessment delivered to "fhir"
    And the EMR finds exactly 1 Observation for the patient by subject identifier
    And the Observation in the EMR is preliminary and labelled AI-asserted
    And the Observation points to the explanation in the EMR: a heatmap PNG and its data, marked as no clinical finding

  Scenario: The EMR is down for a while and gets the result once it is back
    Given the EMR's FHIR server is down
    When the integrator submits the keypoints
    Then the delivery waits for a retry and says why
    When the EMR's FHIR server comes back
    Then the delivery ledger shows the assessment delivered to "fhir"
    And the EMR finds exactly 1 Observation for the patient by subject identifier
