Feature: A clinician sees why the model scored an assessment
  Before trusting or overriding an AI pain score, a clinician asks which face regions and which
  seconds drove it. The gateway answers with region occlusion (what changes the model's output when a
  region is made neutral), never presented as a clinical finding, and draws it on the face mesh.

  Background:
    Given the gateway is running with the bundled synthetic-data model
    And an integrator has submitted MediaPipe keypoints of a real 5-second face clip

  Scenario: The explanation ranks the face regions and the seconds, with its caveat
    When the clinician asks why the model scored it
    Then the answer ranks all 7 face regions by how much occluding them lowers the pain probability
    And it gives the importance of each of the 5 scored seconds
    And it either names the region that stands out or says that none does
    And it says that it is a model-internal signal, not a clinical finding, from a model trained on synthetic data

  Scenario: The heatmap is a drawing of the face mesh, not a photograph
    When the clinician opens the explanation heatmap
    Then it is a 720 by 740 PNG that is mostly blank page

  Scenario: Another site's clinician cannot see it
    When a clinician of another tenant asks why the model scored it
    Then the answer is 404 and names nothing of the patient
