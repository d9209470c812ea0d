Feature: A clinician reviews assessments in the review web UI
  A clinician signs in to /ui with their token, finds what needs review in the worklist, opens an
  assessment and confirms or overrides it; the worklist then stops asking. A form posted from anywhere
  but the gateway's own page is refused.

  Background:
    Given the AI has scored real face clips of patients "MRN-1" and "MRN-2"

  Scenario: The clinician signs in and finds a patient's clip
    When the clinician opens the worklist without a session
    Then the sign-in form is shown
    When the clinician signs in with their clinician token
    Then the worklist lists 2 assessments that need review
    When the clinician filters the worklist by patient "MRN-2"
    Then only the assessment of "MRN-2" is listed

  Scenario: The clinician overrides and the clip leaves the review list
    Given the clinician is signed in
    When the clinician overrides the AI's level of "MRN-1" because of the patient's report
    Then the assessment of "MRN-1" shows "amended" with the AI's level kept in its history
    And the worklist of assessments that need review lists only "MRN-2"

  Scenario: A forged review form is refused
    Given the clinician is signed in
    When another site posts a review of "MRN-1" with a guessed CSRF token
    Then it is refused with 403 and the assessment of "MRN-1" still needs review

  Scenario: A review the gateway refuses is never silent
    Given the clinician is signed in
    When the clinician overrides the AI's level of "MRN-1" without choosing the observed level
    Then the form comes back with "level" named at its top, announced and focusable
    And the override, the reason and the comment are still chosen
    And the assessment of "MRN-1" still needs review
