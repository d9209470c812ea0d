Feature: A ward is told when a patient's pain is sustained, and when it is relieved
  Three consecutive significant assessments spanning the rule's minutes open an AI-derived alert
  episode: an episode Observation and an active Flag land in the EMR and a signed webhook tells the
  platform. A nurse records an analgesic; the reassessment 30 minutes later scores no pain, the Flag
  becomes inactive with its period end and the platform is told the alert resolved.

  Scenario: Sustained significant pain opens an alert; relief after an analgesic closes it
    Given the EMR's FHIR server is the FHIR destination and a platform's receiver takes pain alert webhooks
    When patient "MRN-ALERT-1" is scored significant in three consecutive assessments over 12 minutes
    Then one episode Observation and one active Flag for the patient land in the EMR's FHIR server
    And a "pain_alert.opened" webhook arrives and verifies with the Standard Webhooks reference library
    When a nurse records an analgesic given after the third assessment
    And the reassessment 30 minutes after the analgesic scores no pain
    Then the Flag in the EMR becomes inactive with its period end
    And a "pain_alert.resolved" webhook arrives for the same episode
    And the patient page shows the drop, with the two assessments it compares
