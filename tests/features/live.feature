Feature: Live bedside scoring
  At the bedside the video never leaves the device: it streams Face Mesh landmarks, sees a pain level
  for every second of capture, and the whole session becomes one assessment delivered like any upload.

  Scenario: A bedside stream gets a level every second and ends as one delivered assessment
    Given the platform's webhook receiver is registered for "assessment.completed"
    And a clinician opens a live session for patient "Patient/bed-7"
    When the bedside device streams 4 seconds of a real face's landmarks at 30 fps and ends the session
    Then it gets 4 window results, one per second of capture, each with a level and the synthetic-data disclaimer
    And the assessment message names the stored assessment of 4 windows from source "live_stream"
    And a webhook "assessment.completed" arrives for that assessment

  Scenario: The edge client streams a face video from a bedside PC
    Given a gateway served with "pain-gateway serve" and a clinician's token
    And a 4-second face video
    When the edge client "pain-gateway live" streams the video
    Then it prints a level for every second of the video
    And it prints the assessment, which the gateway serves
