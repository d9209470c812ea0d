Feature: A telehealth platform receives signed webhooks
  Instead of polling, the platform registers a webhook receiver and gets each result pushed to it,
  signed per the Standard Webhooks specification.

  Background:
    Given the platform's webhook receiver runs on an address the gateway is allowed to reach
    And the platform registers its receiver for "assessment.completed"
    And MediaPipe keypoints of a real 5-second face clip for patient "Patient/visit-31"

  Scenario: A signed webhook arrives and verifies
    When the platform submits the keypoints
    Then a webhook "assessment.completed" arrives for the assessment
    And it verifies with the Standard Webhooks reference library and the endpoint's secret
    And it carries the summary, the links and the AI-asserted FHIR Observation

  Scenario: The receiver fails once; the retry carries the same webhook id
    Given the receiver will answer 503 once
    When the platform submits the keypoints
    Then 2 webhooks arrive with the same webhook id
    And the endpoint's attempt log shows a retry, then a delivery
