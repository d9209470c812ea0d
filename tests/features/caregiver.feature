Feature: A caregiver reads a summary of a patient's pain checks
  A nurse shares a plain-language summary with the family of a patient who cannot say how much pain
  they are in. The family opens it on their phone without an account, in their own language, and
  learns what was seen, what it does and does not mean, and when to call the care team.

  Background:
    Given the gateway is running with caregiver sharing turned on
    And patient "MRN-4411" had a pain check 3 hours ago

  Scenario: The family opens a shared summary in Chinese without an account
    When the nurse shares the summary of that check in "zh" for "24h"
    And a family member opens the link without a token
    Then the summary is in Simplified Chinese
    And it says it is AI decision support from a model trained on synthetic data
    And it says a clinician has not yet reviewed it
    And it says when to contact the care team
    And the same link gives a PDF with the same title

  Scenario: The family reads a day of checks as a text message
    Given patient "MRN-4411" also had a pain check 20 hours ago
    When the nurse asks for the last "24h" of that patient as "sms" in "en"
    Then the message fits one SMS of 160 GSM characters
    And it says the result is an AI estimate and not a diagnosis
    And its times are in the site's time zone, which it names

  Scenario: A changed or expired link is refused
    When the nurse shares the summary of that check in "en" for "1h"
    And someone changes a character of the link and opens it
    Then the gateway answers 403 saying the link is not valid
    And a link that expired an hour ago answers 410 saying it expired
